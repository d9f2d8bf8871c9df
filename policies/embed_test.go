package policies_test

import (
	"io/fs"
	"strings"
	"testing"

	"github.com/atriumhq/atrium/policies"
)

// The Rego tests themselves run from core/opa (only infrastructure imports
// OPA); here the embedded files are checked to be what that expects.
func TestEveryModuleHasTests(t *testing.T) {
	for dir, fsys := range map[string]fs.FS{"base": policies.Base, "examples": policies.Examples} {
		files, err := fs.Glob(fsys, dir+"/*.rego")
		if err != nil || len(files) == 0 {
			t.Fatalf("%s: no Rego embedded (%v)", dir, err)
		}
		for _, f := range files {
			if strings.HasSuffix(f, "_test.rego") {
				continue
			}
			if _, err := fs.Stat(fsys, strings.TrimSuffix(f, ".rego")+"_test.rego"); err != nil {
				t.Errorf("%s has no tests: %v", f, err)
			}
		}
	}
}
