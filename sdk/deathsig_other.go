//go:build !linux

package sdk

// setParentDeathSignal does nothing where there is no parent-death signal;
// the parent poll alone guards the plugin there.
func setParentDeathSignal() error { return nil }
