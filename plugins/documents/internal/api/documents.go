package api

import (
	"bufio"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/atriumhq/atrium/plugins/documents/internal/app"
	"github.com/atriumhq/atrium/plugins/documents/internal/store"
	"github.com/atriumhq/atrium/sdk"
	"github.com/atriumhq/atrium/sdk/query"
)

// newestFirst is the list's order when the client gives none.
var newestFirst = []query.SortKey{{Field: "created_at", Desc: true}}

// listDocuments: GET /api/v1/documents?project_id=&content_type=&sort=&limit=&cursor=
func listDocuments(c *sdk.Context, s *store.Store) error {
	spec, err := query.Parse(c.QueryValues(), store.Fields, query.Options{Sort: newestFirst})
	if err != nil {
		return err
	}
	page, err := s.List(c, spec)
	if err != nil {
		return err
	}
	out := DocumentList{Items: make([]Document, len(page.Items))}
	if page.NextCursor != "" {
		out.NextCursor = &page.NextCursor
	}
	for i, d := range page.Items {
		out.Items[i] = documentOut(d)
	}
	return c.JSON(http.StatusOK, out)
}

// getDocument: GET /api/v1/documents/{id}
func getDocument(c *sdk.Context, s *store.Store) error {
	d, err := load(c, s, app.DocumentRead, false)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, documentOut(d))
}

// presignTTL is how long a download's presigned URL stays valid.
const presignTTL = 5 * time.Minute

// documentContent: GET /api/v1/documents/{id}/content[?redirect=1]. The
// core streams the blob and answers Range and If-None-Match against the
// ETag, the content's sha256.
func documentContent(c *sdk.Context, s *store.Store) error {
	d, err := load(c, s, app.DocumentRead, false)
	if err != nil {
		return err
	}
	redirect := c.Query("redirect")
	if redirect == "" {
		if v, _ := c.Tenant().Settings[app.SettingRedirect].(bool); v {
			redirect = "1"
		}
	}
	if redirect == "1" || redirect == "true" {
		url, err := c.Blobs().PresignGet(c, d.BlobKey, presignTTL)
		switch {
		case err == nil:
			c.SetHeader("Cache-Control", "no-store")
			return c.Redirect(http.StatusFound, url)
		case !errors.Is(err, sdk.ErrNoPresign): // a local directory streams instead
			return err
		}
	}
	c.SetHeader("Content-Type", d.ContentType)
	c.SetHeader("ETag", `"`+d.SHA256+`"`)
	c.SetHeader("Cache-Control", "private, no-cache")
	c.SetHeader("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": d.Name}))
	return c.ServeBlob(d.BlobKey)
}

// deleteDocument: DELETE /api/v1/documents/{id}. The row goes in the
// request's unit of work, the blob once it has committed.
func deleteDocument(c *sdk.Context, s *store.Store) error {
	d, err := load(c, s, app.DocumentDelete, true)
	if err != nil {
		return err
	}
	if err := s.Delete(c, d.ID); err != nil {
		return err
	}
	if err := c.Blobs().Delete(c, d.BlobKey); err != nil {
		return err
	}
	var project *string
	if d.ProjectID != nil {
		s := d.ProjectID.String()
		project = &s
	}
	if err := c.Emit(EventDocumentDeleted, DocumentDeleted{ID: d.ID.String(), ProjectID: project}); err != nil {
		return err
	}
	return c.NoContent()
}

// maxFieldLen bounds a form field other than the file.
const maxFieldLen = 100

// uploadDocument: POST /api/v1/documents, multipart/form-data with a file
// part and an optional project_id part. The file streams from the client
// through the core and this plugin into the blob store: it is sniffed
// from its first 512 bytes and refused (415) before anything is stored if
// the tenant does not allow its type, and cut off (413) as soon as it
// passes the tenant's size limit, when the store drops what it received.
// The store computes sha256 and size on the way. The row and the audit
// record commit in the request's unit of work; should it not commit, the
// core deletes the blob again.
func uploadDocument(c *sdk.Context, s *store.Store) error {
	limits, err := app.LimitsOf(c.Tenant())
	if err != nil {
		return err
	}
	mt, params, err := mime.ParseMediaType(c.Header("Content-Type"))
	if err != nil || mt != "multipart/form-data" || params["boundary"] == "" {
		return sdk.Errorf(sdk.KindUnsupported, "the body must be multipart/form-data, with a file part")
	}
	creator, err := uuid.Parse(c.Principal().ID)
	if err != nil {
		return sdk.Internal(err, "principal id %q is not a UUID", c.Principal().ID)
	}
	id, err := uuid.NewV7()
	if err != nil {
		return sdk.Internal(err, "new document id")
	}
	d := &store.Document{ID: id, BlobKey: app.BlobKey(id), CreatedBy: creator}
	stored := false
	// multipart reads through a bufio.Reader of 4 KiB unless given a larger
	// one: the file then arrives in larger pieces, with fewer boundary scans.
	mr := multipart.NewReader(bufio.NewReaderSize(c.Body(), 256<<10), params["boundary"])
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return bodyError(err)
		}
		switch part.FormName() {
		case "file":
			if stored {
				return sdk.Invalid(sdk.FieldError{Field: "file", Message: "only one file per upload"})
			}
			if err := storeFile(c, part, d, limits); err != nil {
				return err
			}
			stored = true
		case "project_id":
			raw, err := io.ReadAll(io.LimitReader(part, maxFieldLen+1))
			if err != nil {
				return bodyError(err)
			}
			p, err := uuid.Parse(strings.TrimSpace(string(raw)))
			if err != nil || len(raw) > maxFieldLen {
				return sdk.Invalid(sdk.FieldError{Field: "project_id", Message: "must be a UUID"})
			}
			d.ProjectID = &p
		default:
			return sdk.Invalid(sdk.FieldError{Field: part.FormName(), Message: "unknown field: the form takes file and project_id"})
		}
	}
	if !stored {
		return sdk.Invalid(sdk.FieldError{Field: "file", Message: "required"})
	}
	d.CreatedAt = time.Now().UTC().Truncate(time.Microsecond)
	if err := s.Add(c, d); err != nil {
		return err
	}
	// Asked now, not required of the response: the sweep below must not
	// run (and spend the day's turn) in a request that will be refused. A
	// refusal rolls the row back, and the core then deletes the blob.
	if err := c.Authorize(app.DocumentCreate, resource(d)); err != nil {
		return err
	}
	if err := c.Audit(map[string]any{"resource_type": "document", "resource_id": d.ID.String(),
		"name": d.Name, "content_type": d.ContentType, "size": d.Size, "sha256": d.SHA256}); err != nil {
		return err
	}
	if err := c.Emit(EventDocumentCreated, documentOut(d)); err != nil {
		return err
	}
	sweep(c, s)
	c.SetHeader("Location", "/api/v1/documents/"+d.ID.String())
	return c.JSON(http.StatusCreated, documentOut(d))
}

// storeFile streams the file part into the blob store, filling in d.
func storeFile(c *sdk.Context, part *multipart.Part, d *store.Document, limits app.Limits) error {
	name, err := app.CleanName(part.FileName())
	if err != nil {
		return sdk.Invalid(sdk.FieldError{Field: "file", Message: err.Error()})
	}
	body := &app.LimitReader{R: part, Max: limits.MaxBytes}
	mediaType, content, err := app.Sniff(body)
	if err != nil {
		return bodyError(err)
	}
	if !limits.Allows(mediaType) {
		return sdk.Errorf(sdk.KindUnsupported, "files of type %s are not accepted here", mediaType)
	}
	info, err := c.Blobs().Put(c, d.BlobKey, content, -1, mediaType)
	if err != nil {
		return bodyError(err)
	}
	d.Name, d.ContentType, d.Size, d.SHA256 = name, mediaType, info.Size, info.SHA256
	return nil
}

// bodyError keeps the SDK's errors (the limit's TooLarge, a body that
// broke off, the store's) and makes anything else, which only the
// multipart parser raises, a malformed body.
func bodyError(err error) error {
	var se *sdk.Error
	if errors.As(err, &se) {
		return err
	}
	return sdk.BadRequest("the multipart body is malformed: %v", err)
}

// sweepEvery is how often an upload sweeps the tenant's orphaned blobs.
const sweepEvery = 24 * time.Hour

// sweep deletes orphaned blobs (app.Sweep) once per sweepEvery per tenant,
// in an upload; a failure is logged and never fails the upload.
func sweep(c *sdk.Context, s *store.Store) {
	_, found, err := c.Cache().Get(c, "swept")
	if err == nil && !found {
		err = c.Cache().Set(c, "swept", []byte("1"), sweepEvery)
	}
	if err != nil {
		c.Logger().Warn("not sweeping orphaned blobs: the cache failed", "error", err)
	}
	if err != nil || found {
		return
	}
	n, err := app.Sweep(c, s, c.Blobs(), time.Now())
	if err != nil {
		c.Logger().Warn("sweeping orphaned blobs failed", "error", err)
		return
	}
	c.Logger().Info("swept orphaned blobs", "deleted", n)
}
