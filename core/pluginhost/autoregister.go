package pluginhost

import (
	"context"
	"encoding/hex"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/atriumhq/atrium/core/kernel"
)

// errRegistered: another replica registered the plugin first.
var errRegistered = errors.New("registered meanwhile")

// RegisterDir registers, as Register does, every executable file directly
// in the plugin directory that no registered plugin uses, named after the
// file (ATRIUM_PLUGIN_AUTOREGISTER). A file that fails to register is
// logged and skipped. A registered plugin's binary is left to its entry,
// changed or not: an upgrade stays the operator's Register, and a changed
// binary stays refused at launch. Replicas doing this at once register
// each plugin once. It returns an error only when ctx ends.
func (h *Host) RegisterDir(ctx context.Context) error {
	files, err := executables(h.o.Dir)
	if err != nil {
		h.log.Warn("the plugin directory cannot be read; nothing registered from it", "dir", h.o.Dir, "error", err)
		return nil
	}
	if len(files) == 0 {
		return nil
	}
	entries, err := h.o.Catalog.List(ctx)
	if err != nil {
		h.log.Warn("the plugin catalog cannot be read; nothing registered from the plugin directory", "error", err)
		return ctx.Err()
	}
	used := map[string]bool{}
	for _, e := range entries {
		used[e.Name], used[e.File] = true, true
	}
	raced := false
	for _, file := range files {
		if used[file] || h.Known(file) {
			continue
		}
		e, err := h.registerNew(ctx, file)
		switch {
		case ctx.Err() != nil:
			return ctx.Err()
		case errors.Is(err, errRegistered):
			raced = true
		case err != nil:
			h.log.Warn("a file in the plugin directory was not registered", "file", file, "error", reason(err))
		default:
			h.log.Info("plugin registered from the plugin directory", "plugin", e.Name, "file", e.File,
				"version", e.Version, "sha256", hex.EncodeToString(e.SHA256))
		}
	}
	if raced {
		// Its notification may have come before this replica listened:
		// launch what the other replica registered.
		if err := h.Sync(ctx); err != nil && ctx.Err() == nil {
			h.log.Error("plugin catalog sync", "error", err)
		}
	}
	return ctx.Err()
}

// registerNew registers the plugin file under its name unless a plugin of
// that name is registered by the time the catalog is written
// (errRegistered), and returns its catalog entry.
func (h *Host) registerNew(ctx context.Context, file string) (Entry, error) {
	h.sync.Lock()
	defer h.sync.Unlock()
	var added Entry
	_, err := h.register(ctx, Entry{Name: file, File: file}, func(ctx context.Context, e Entry) error {
		ok, err := h.o.Catalog.Add(ctx, e)
		switch {
		case err != nil:
			return err
		case !ok:
			return errRegistered
		}
		added = e
		return nil
	})
	return added, err
}

// executables lists the executable regular files directly in dir (a link
// to one counts), leaving out dotfiles; a missing dir has none.
func executables(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []string
	for _, de := range entries {
		if strings.HasPrefix(de.Name(), ".") {
			continue
		}
		fi, err := os.Stat(filepath.Join(dir, de.Name()))
		if err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0 {
			out = append(out, de.Name())
		}
	}
	return out, nil
}

// reason is why a file was refused, as POST /api/v1/plugins would answer:
// a refusal's message (which says its cause) and fields. Other errors are
// said whole.
func reason(err error) string {
	var ke *kernel.Error
	if !errors.As(err, &ke) || ke.Kind != kernel.KindInvalid {
		return err.Error()
	}
	parts := []string{}
	if ke.Message != "" {
		parts = append(parts, ke.Message)
	}
	for _, f := range ke.Fields {
		parts = append(parts, f.Field+": "+f.Message)
	}
	return strings.Join(parts, "; ")
}
