package api

import (
	"io"
	"mime"
	"net/http"
	"os"
	"reflect"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/atriumhq/atrium/core/kernel"
)

// Download adapts a handler that produces a file. What fn writes is spooled
// to a temporary file first, so a failure half-way is still a clean problem
// response, and the reply carries a Content-Length.
func Download(contentType string, fn func(c *gin.Context, w io.Writer) (filename string, err error)) Handler {
	return Handler{
		serve: func(c *gin.Context) (*reply, error) {
			f, err := os.CreateTemp("", "atrium-download-*")
			if err != nil {
				return nil, err
			}
			_ = os.Remove(f.Name()) // unlinked: the open file is all that remains
			name, err := fn(c, f)
			if err != nil {
				f.Close()
				return nil, err
			}
			size, err := f.Seek(0, io.SeekCurrent)
			if err == nil {
				_, err = f.Seek(0, io.SeekStart)
			}
			if err != nil {
				f.Close()
				return nil, err
			}
			return &reply{status: http.StatusOK, file: f, size: size, filename: name, contentType: contentType}, nil
		},
		status:      http.StatusOK,
		contentType: contentType,
	}
}

// Upload adapts a handler that takes a raw request body of one of the given
// media types (a file) and answers with JSON.
func Upload[Out any](status int, mediaTypes []string, fn func(c *gin.Context, body io.Reader) (Out, error)) Handler {
	return Handler{
		serve: func(c *gin.Context) (*reply, error) {
			mt, _, err := mime.ParseMediaType(c.GetHeader("Content-Type"))
			if err != nil || !contains(mediaTypes, mt) {
				return nil, kernel.E(kernel.KindUnsupported, "the request body must be one of %v", mediaTypes)
			}
			// Uploads may take longer than the server's read timeout allows
			// other requests; their size is bounded by the route's body limit.
			_ = http.NewResponseController(c.Writer).SetReadDeadline(time.Now().Add(uploadTimeout))
			out, err := fn(c, c.Request.Body)
			if err != nil {
				return nil, err
			}
			return &reply{status: status, body: out}, nil
		},
		uploadTypes: mediaTypes,
		response:    reflect.TypeFor[Out](),
		status:      status,
	}
}

// uploadTimeout bounds how long one upload may take to arrive.
const uploadTimeout = time.Hour

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// writeFile streams a spooled download and closes it.
func (r *reply) writeFile(c *gin.Context) {
	defer r.file.Close()
	extra := map[string]string{}
	if r.filename != "" {
		extra["Content-Disposition"] = mime.FormatMediaType("attachment", map[string]string{"filename": r.filename})
	}
	c.DataFromReader(r.status, r.size, r.contentType, r.file, extra)
}

// bodyTooLarge is the problem for a body past a route's limit.
func bodyTooLarge(limit int64) error {
	return kernel.E(kernel.KindTooLarge, "the request body is larger than %d bytes", limit)
}
