package app

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/atriumhq/atrium/sdk"
)

func TestLimitsOf(t *testing.T) {
	l, err := LimitsOf(sdk.Tenant{})
	require.NoError(t, err)
	assert.Equal(t, int64(DefaultMaxBytes), l.MaxBytes)
	assert.True(t, l.Allows("application/x-anything"), "no list: any type")

	l, err = LimitsOf(sdk.Tenant{Settings: map[string]any{SettingMaxBytes: float64(1000), SettingContentTypes: []any{"image/*", " Application/PDF "}}})
	require.NoError(t, err)
	assert.Equal(t, int64(1000), l.MaxBytes)
	assert.True(t, l.Allows("image/png"))
	assert.True(t, l.Allows("application/pdf"))
	assert.False(t, l.Allows("text/plain"))
	assert.False(t, l.Allows("imagex/png"), "a wildcard matches its major type only")

	for _, bad := range []map[string]any{
		{SettingMaxBytes: "big"}, {SettingMaxBytes: float64(-1)}, {SettingMaxBytes: 1.5},
		{SettingContentTypes: "image/png"}, {SettingContentTypes: []any{7}},
	} {
		_, err := LimitsOf(sdk.Tenant{Settings: bad})
		assert.Error(t, err, "%v is refused, not ignored", bad)
	}
}

func TestSniffKeepsTheContent(t *testing.T) {
	png := append([]byte("\x89PNG\r\n\x1a\n"), bytes.Repeat([]byte{1}, 2000)...)
	for _, tc := range []struct {
		content []byte
		want    string
	}{
		{png, "image/png"},
		{[]byte("plain words"), "text/plain"},
		{[]byte("<html><script>x</script>"), "text/html"},
		{nil, "text/plain"},
		{[]byte{0, 1, 2, 3}, "application/octet-stream"},
	} {
		mt, r, err := Sniff(bytes.NewReader(tc.content))
		require.NoError(t, err)
		assert.Equal(t, tc.want, mt)
		all, err := io.ReadAll(r)
		require.NoError(t, err)
		assert.Equal(t, len(tc.content), len(all), "the sniffed bytes are not lost")
	}
}

func TestLimitReaderStopsPastTheLimit(t *testing.T) {
	r := &LimitReader{R: strings.NewReader(strings.Repeat("x", 100)), Max: 100}
	n, err := io.Copy(io.Discard, r)
	require.NoError(t, err)
	assert.Equal(t, int64(100), n, "exactly the limit is allowed")

	r = &LimitReader{R: strings.NewReader(strings.Repeat("x", 101)), Max: 100}
	_, err = io.Copy(io.Discard, r)
	var se *sdk.Error
	require.True(t, errors.As(err, &se), "%v", err)
	assert.Equal(t, sdk.KindTooLarge, se.Kind)
}

func TestCleanName(t *testing.T) {
	for in, want := range map[string]string{
		"report.pdf": "report.pdf", "../../etc/passwd": "passwd", `C:\Users\me\cv.docx`: "cv.docx",
		" spaced.txt ": "spaced.txt", "dir/": "dir",
	} {
		got, err := CleanName(in)
		require.NoError(t, err, in)
		assert.Equal(t, want, got, in)
	}
	for _, bad := range []string{"", "/", "..", ".", "a\nb", "\xff.txt", strings.Repeat("a", MaxNameLen+1)} {
		_, err := CleanName(bad)
		assert.Error(t, err, "%q", bad)
	}
}

// A client's file name never becomes a name with a path, a control
// character, invalid UTF-8 or too many bytes.
func FuzzCleanName(f *testing.F) {
	for _, s := range []string{"a.txt", "../x", `a\b`, "a\x00b", "\xff", "..", "/"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		name, err := CleanName(in)
		if err != nil {
			return
		}
		if name == "" || name == "." || name == ".." || strings.ContainsAny(name, "/\\") || !utf8.ValidString(name) || len(name) > MaxNameLen {
			t.Fatalf("CleanName(%q) = %q", in, name)
		}
		for _, r := range name {
			if r < 0x20 || r == 0x7f {
				t.Fatalf("CleanName(%q) = %q has a control character", in, name)
			}
		}
	})
}
