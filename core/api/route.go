package api

import (
	"net/http"
	"reflect"

	"github.com/gin-gonic/gin"
)

// Route declares one endpoint. The router mounts it in gin and describes it
// in the OpenAPI document from this same declaration, so the two cannot drift.
type Route struct {
	Method  string
	Path    string // gin syntax, from the root: /api/v1/tenants/:slug
	Summary string
	Tags    []string
	// Quiet routes (probes, scrapes) log at debug level, not info.
	Quiet   bool
	Handler Handler
}

// Handler is an endpoint's body together with the types it reads and writes.
// Build one with JSON, Output or Raw.
type Handler struct {
	serve       func(*gin.Context) error
	request     reflect.Type
	response    reflect.Type
	status      int
	contentType string
}

// JSON adapts a handler that takes a JSON body: the body is decoded strictly
// into In and validated before fn runs, and fn's result is written with status.
func JSON[In, Out any](status int, fn func(c *gin.Context, in *In) (Out, error)) Handler {
	return Handler{
		serve: func(c *gin.Context) error {
			in := new(In)
			if err := DecodeJSON(c.Request, in); err != nil {
				return err
			}
			out, err := fn(c, in)
			if err != nil {
				return err
			}
			c.JSON(status, out)
			return nil
		},
		request:  reflect.TypeFor[In](),
		response: reflect.TypeFor[Out](),
		status:   status,
	}
}

// Output adapts a handler without a request body whose result is written as
// JSON with status 200.
func Output[Out any](fn func(c *gin.Context) (Out, error)) Handler {
	return Handler{
		serve: func(c *gin.Context) error {
			out, err := fn(c)
			if err != nil {
				return err
			}
			c.JSON(http.StatusOK, out)
			return nil
		},
		response: reflect.TypeFor[Out](),
		status:   http.StatusOK,
	}
}

// Raw adapts a handler that writes its own response of the given content type.
func Raw(status int, contentType string, h http.Handler) Handler {
	return Handler{
		serve: func(c *gin.Context) error {
			h.ServeHTTP(c.Writer, c.Request)
			return nil
		},
		status:      status,
		contentType: contentType,
	}
}

// handle runs h and renders any error it returns as a problem document.
func (h Handler) handle(c *gin.Context) {
	if err := h.serve(c); err != nil {
		writeError(c, err)
	}
}
