package blob

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"syscall"
	"time"
)

func (s *fileStore) Get(ctx context.Context, key string) (io.ReadCloser, Info, error) {
	f, info, hl, err := s.open(ctx, key)
	if err != nil {
		return nil, Info{}, err
	}
	return struct {
		io.Reader
		io.Closer
	}{io.NewSectionReader(f, hl, info.Size), f}, info, nil
}

func (s *fileStore) GetRange(ctx context.Context, key string, offset, length int64) (io.ReadCloser, Info, error) {
	f, info, hl, err := s.open(ctx, key)
	if err != nil {
		return nil, Info{}, err
	}
	n, err := span(info.Size, offset, length)
	if err != nil {
		f.Close()
		return nil, Info{}, err
	}
	return struct {
		io.Reader
		io.Closer
	}{io.NewSectionReader(f, hl+offset, n), f}, info, nil
}

func (s *fileStore) Stat(ctx context.Context, key string) (Info, error) {
	f, info, _, err := s.open(ctx, key)
	if err != nil {
		return Info{}, err
	}
	f.Close()
	return info, nil
}

// open returns the object's file, its Info and the header length.
func (s *fileStore) open(ctx context.Context, key string) (*os.File, Info, int64, error) {
	if err := ValidateKey(key); err != nil {
		return nil, Info{}, 0, err
	}
	if err := ctx.Err(); err != nil {
		return nil, Info{}, 0, err
	}
	root, err := s.root()
	if err != nil {
		return nil, Info{}, 0, err
	}
	defer root.Close() // the file stays open without it
	f, err := root.Open(objectPath(key))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
			return nil, Info{}, 0, notFound(err)
		}
		return nil, Info{}, 0, fmt.Errorf("blob: open %q: %w", key, err)
	}
	info, hl, err := readInfo(f, key)
	if err != nil {
		f.Close()
		return nil, Info{}, 0, err
	}
	return f, info, hl, nil
}

func readInfo(f *os.File, key string) (Info, int64, error) {
	fi, err := f.Stat()
	if err != nil {
		return Info{}, 0, fmt.Errorf("blob: stat %q: %w", key, err)
	}
	if !fi.Mode().IsRegular() { // "a" when only "a/b" exists
		return Info{}, 0, notFound(fmt.Errorf("%s is a directory", key))
	}
	head := make([]byte, fixedHead)
	if _, err := io.ReadFull(f, head); err != nil || string(head[:len(magic)]) != magic {
		return Info{}, 0, fmt.Errorf("blob: %q is not an object file written by this store", key)
	}
	ct := make([]byte, head[fixedHead-1])
	if _, err := io.ReadFull(f, ct); err != nil {
		return Info{}, 0, fmt.Errorf("blob: %q has a truncated header: %w", key, err)
	}
	hl := int64(fixedHead + len(ct))
	return Info{
		Key:         key,
		Size:        fi.Size() - hl,
		SHA256:      hex.EncodeToString(head[len(magic) : fixedHead-1]),
		ContentType: string(ct),
		ModTime:     fi.ModTime(),
	}, hl, nil
}

func (s *fileStore) List(ctx context.Context, prefix string) ([]Info, error) {
	if err := validatePrefix(prefix); err != nil {
		return nil, err
	}
	root, err := s.root()
	if err != nil {
		return nil, err
	}
	defer root.Close()
	// Walk only the directory that the prefix's complete segments name.
	start := objectsDir
	if i := strings.LastIndexByte(prefix, '/'); i >= 0 {
		start = objectPath(prefix[:i])
	}
	var infos []Info
	err = fs.WalkDir(root.FS(), start, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p == start && (errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR)) {
				return fs.SkipAll
			}
			return err
		}
		key := strings.TrimPrefix(p, objectsDir+"/")
		if !d.Type().IsRegular() || !strings.HasPrefix(key, prefix) {
			return nil
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		f, err := root.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		info, _, err := readInfo(f, key)
		infos = append(infos, Info{Key: key, Size: info.Size, ModTime: info.ModTime})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("blob: list: %w", err)
	}
	sortByKey(infos)
	return infos, nil
}

func (s *fileStore) PresignGet(_ context.Context, key string, _ time.Duration) (string, bool, error) {
	return "", false, ValidateKey(key)
}
