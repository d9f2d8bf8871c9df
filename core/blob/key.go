package blob

import (
	"strings"
	"unicode/utf8"

	"github.com/atriumhq/atrium/core/kernel"
)

// MaxKeyLen is S3's limit, applied to every backend alike.
const MaxKeyLen = 1024

// ValidateKey is the one rule for object keys, shared by every backend so a
// key accepted in development is accepted in production. A key is a
// "/"-separated path: non-empty, at most MaxKeyLen bytes of valid UTF-8, with
// no leading "/", no empty, "." or ".." segment, and no backslash or NUL.
// The segment rules keep the file backend's paths inside its root and stop
// two S3 keys ("a//b", "a/b") from naming one file. A bad key is a
// kernel.KindBadRequest error.
func ValidateKey(key string) error {
	if key == "" {
		return badKey("is empty")
	}
	if err := checkChars(key); err != nil {
		return err
	}
	for seg := range strings.SplitSeq(key, "/") {
		if err := checkSegment(seg); err != nil {
			return err
		}
	}
	return nil
}

// validatePrefix applies ValidateKey's rules to a List prefix, whose last
// segment may be partial (so "a/." may prefix "a/.x") and which may be empty
// or end in "/".
func validatePrefix(prefix string) error {
	if prefix == "" {
		return nil
	}
	if err := checkChars(prefix); err != nil {
		return err
	}
	segs := strings.Split(prefix, "/")
	for _, seg := range segs[:len(segs)-1] {
		if err := checkSegment(seg); err != nil {
			return err
		}
	}
	return nil
}

func checkChars(s string) error {
	switch {
	case len(s) > MaxKeyLen:
		return badKey("is longer than 1024 bytes")
	case !utf8.ValidString(s):
		return badKey("is not valid UTF-8")
	case strings.ContainsAny(s, "\\\x00"):
		return badKey("contains a backslash or NUL")
	}
	return nil
}

func checkSegment(seg string) error {
	switch seg {
	case "":
		return badKey(`has an empty segment (a leading, trailing or doubled "/")`)
	case ".", "..":
		return badKey(`has a "." or ".." segment`)
	}
	return nil
}

func badKey(why string) error {
	return kernel.E(kernel.KindBadRequest, "blob key %s", why)
}
