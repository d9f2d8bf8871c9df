package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3gen"
	"github.com/google/uuid"

	"github.com/atriumhq/atrium/core/pluginhost"
	"github.com/atriumhq/atrium/sdk"
)

var pathParam = regexp.MustCompile(`[:*]([A-Za-z0-9_]+)`)

// OpenAPI returns the OpenAPI 3 document of every mounted route and every
// running plugin's routes, as JSON. It is built on first use and cached
// until a plugin starts, stops or changes version.
func (r *Router) OpenAPI() ([]byte, error) {
	var manifests []sdk.Manifest
	if r.plugins != nil {
		manifests = r.plugins.Manifests()
	}
	key := pluginsKey(manifests)
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.doc != nil && r.docKey == key {
		return r.doc, nil
	}
	doc, err := buildOpenAPI(r.routes, r.version)
	if err != nil {
		return nil, err
	}
	for _, m := range manifests {
		if err := addPluginOperations(doc, m); err != nil {
			return nil, err
		}
	}
	b, err := json.Marshal(doc)
	if err != nil {
		return nil, fmt.Errorf("encode openapi document: %w", err)
	}
	r.doc, r.docKey = b, key
	return b, nil
}

func pluginsKey(ms []sdk.Manifest) string {
	var b strings.Builder
	for _, m := range ms {
		b.WriteString(m.Name + "@" + m.Version + " ")
	}
	return b.String()
}

// addPluginOperations describes a plugin's routes from its manifest: the
// JSON Schemas the SDK generated from the author's example types.
func addPluginOperations(doc *openapi3.T, m sdk.Manifest) error {
	for _, rt := range m.Routes {
		path := pluginhost.Prefix + m.Name + rt.Path
		op := &openapi3.Operation{
			OperationID: operationID(Route{Method: rt.Method, Path: pluginPathParam.ReplaceAllString(path, ":$1")}),
			Summary:     rt.Summary,
			Tags:        []string{m.Name},
			Responses:   openapi3.NewResponses(),
			Security:    &openapi3.SecurityRequirements{{"bearer": []string{}}},
			Extensions:  map[string]any{"x-atrium-permission": rt.Permission, "x-atrium-plugin": m.Name},
		}
		for _, p := range pluginPathParam.FindAllStringSubmatch(path, -1) {
			op.AddParameter(openapi3.NewPathParameter(p[1]).WithSchema(openapi3.NewStringSchema()))
		}
		if len(rt.RequestSchema) > 0 {
			s, err := rawSchema(rt.RequestSchema)
			if err != nil {
				return fmt.Errorf("plugin %s: %s %s: request schema: %w", m.Name, rt.Method, path, err)
			}
			body := openapi3.NewRequestBody().WithRequired(true)
			if rt.StreamBody { // an upload: a multipart form, as the SDK documents
				body.WithFormDataSchema(s)
			} else {
				body.WithJSONSchema(s)
			}
			op.RequestBody = &openapi3.RequestBodyRef{Value: body}
		}
		resp := openapi3.NewResponse().WithDescription("The plugin's answer")
		if len(rt.ResponseSchema) > 0 {
			s, err := rawSchema(rt.ResponseSchema)
			if err != nil {
				return fmt.Errorf("plugin %s: %s %s: response schema: %w", m.Name, rt.Method, path, err)
			}
			resp.WithJSONSchema(s)
		}
		op.Responses.Set("2XX", &openapi3.ResponseRef{Value: resp})
		op.Responses.Set("default", &openapi3.ResponseRef{Ref: "#/components/responses/Problem"})
		doc.AddOperation(path, rt.Method, op)
	}
	return nil
}

var pluginPathParam = regexp.MustCompile(`\{([A-Za-z0-9_]+)\}`)

func rawSchema(raw json.RawMessage) (*openapi3.Schema, error) {
	var s openapi3.Schema
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil, err
	}
	return &s, nil
}

func buildOpenAPI(routes []Route, version string) (*openapi3.T, error) {
	doc := &openapi3.T{
		OpenAPI: "3.0.3",
		Info: &openapi3.Info{
			Title:       "Atrium API",
			Version:     version,
			Description: "Errors are RFC 9457 problem documents (application/problem+json).",
		},
		Paths: openapi3.NewPaths(),
		Components: &openapi3.Components{
			Schemas: openapi3.Schemas{},
			SecuritySchemes: openapi3.SecuritySchemes{
				"bearer": &openapi3.SecuritySchemeRef{Value: openapi3.NewJWTSecurityScheme()},
			},
		},
	}
	gen := openapi3gen.NewGenerator(
		openapi3gen.SchemaCustomizer(customizeSchema),
		openapi3gen.CreateComponentSchemas(openapi3gen.ExportComponentSchemasOptions{ExportComponentSchemas: true, ExportTopLevelSchema: true}),
	)
	schema := func(t reflect.Type) (*openapi3.SchemaRef, error) {
		ref, err := gen.NewSchemaRefForValue(reflect.New(t).Elem().Interface(), doc.Components.Schemas)
		if err != nil {
			return nil, fmt.Errorf("schema of %s: %w", t, err)
		}
		return ref, nil
	}
	problem, err := schema(reflect.TypeFor[Problem]())
	if err != nil {
		return nil, err
	}
	problemResponse := openapi3.NewResponse().WithDescription("A problem document").
		WithContent(openapi3.Content{problemContentType: openapi3.NewMediaType().WithSchemaRef(problem)})
	doc.Components.Responses = openapi3.ResponseBodies{"Problem": &openapi3.ResponseRef{Value: problemResponse}}

	sorted := append([]Route(nil), routes...)
	sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].Path < sorted[j].Path })
	for _, rt := range sorted {
		op, err := operation(rt, schema)
		if err != nil {
			return nil, err
		}
		op.Responses.Set("default", &openapi3.ResponseRef{Value: problemResponse})
		doc.AddOperation(pathParam.ReplaceAllString(rt.Path, "{$1}"), rt.Method, op)
	}
	return doc, nil
}

func operation(rt Route, schema func(reflect.Type) (*openapi3.SchemaRef, error)) (*openapi3.Operation, error) {
	h := rt.Handler
	op := &openapi3.Operation{
		OperationID: operationID(rt),
		Summary:     rt.Summary,
		Tags:        rt.Tags,
		Responses:   openapi3.NewResponses(),
	}
	if rt.Access != Public {
		op.Security = &openapi3.SecurityRequirements{{"bearer": []string{}}}
	}
	if rt.Permission != "" {
		op.Extensions = map[string]any{"x-atrium-permission": rt.Permission}
	}
	for _, m := range pathParam.FindAllStringSubmatch(rt.Path, -1) {
		op.AddParameter(openapi3.NewPathParameter(m[1]).WithSchema(openapi3.NewStringSchema()))
	}
	if h.request != nil {
		ref, err := schema(h.request)
		if err != nil {
			return nil, err
		}
		op.RequestBody = &openapi3.RequestBodyRef{Value: openapi3.NewRequestBody().WithRequired(true).WithJSONSchemaRef(ref)}
	}
	if h.uploadTypes != nil {
		content := openapi3.Content{}
		for _, mt := range h.uploadTypes {
			content[mt] = openapi3.NewMediaType().WithSchema(openapi3.NewStringSchema().WithFormat("binary"))
		}
		op.RequestBody = &openapi3.RequestBodyRef{Value: openapi3.NewRequestBody().WithRequired(true).WithContent(content)}
	}
	resp := openapi3.NewResponse().WithDescription(http.StatusText(h.status))
	switch {
	case h.response != nil:
		ref, err := schema(h.response)
		if err != nil {
			return nil, err
		}
		resp.WithJSONSchemaRef(ref)
	case h.contentType != "":
		mt := openapi3.NewMediaType()
		if h.contentType != "application/json" && h.contentType != "text/plain" {
			mt.WithSchema(openapi3.NewStringSchema().WithFormat("binary"))
		}
		resp.WithContent(openapi3.Content{h.contentType: mt})
	}
	op.Responses.Set(strconv.Itoa(h.status), &openapi3.ResponseRef{Value: resp})
	return op, nil
}

// operationID derives a stable ID from method and path: GET /api/v1/tenants/:slug -> getTenantsBySlug.
func operationID(rt Route) string {
	var b strings.Builder
	b.WriteString(strings.ToLower(rt.Method))
	for _, seg := range strings.Split(strings.TrimPrefix(rt.Path, "/api/v1"), "/") {
		if seg == "" {
			continue
		}
		if seg[0] == ':' || seg[0] == '*' {
			b.WriteString("By")
			seg = seg[1:]
		}
		for _, part := range strings.FieldsFunc(seg, func(r rune) bool { return r == '-' || r == '_' || r == '.' }) {
			b.WriteString(strings.ToUpper(part[:1]) + part[1:])
		}
	}
	return b.String()
}

var uuidType = reflect.TypeFor[uuid.UUID]()

// customizeSchema carries validate tags into the schema (required, enum,
// lengths, formats), so the document states the rules the decoder enforces.
func customizeSchema(_ string, t reflect.Type, tag reflect.StructTag, s *openapi3.Schema) error {
	if t == uuidType {
		*s = *openapi3.NewUUIDSchema()
		return nil
	}
	if t.Kind() == reflect.Struct {
		for i := range t.NumField() {
			f := t.Field(i)
			if name := jsonName(f); name != "" && hasRule(f.Tag.Get("validate"), "required") {
				s.Required = append(s.Required, name)
			}
		}
	}
	for _, rule := range strings.Split(tag.Get("validate"), ",") {
		name, param, _ := strings.Cut(rule, "=")
		if name == "dive" {
			break // the rules that follow apply to the elements
		}
		switch name {
		case "email":
			s.Format = "email"
		case "uuid":
			s.Format = "uuid"
		case "url", "http_url":
			s.Format = "uri"
		case "oneof":
			for _, v := range strings.Fields(param) {
				s.Enum = append(s.Enum, v)
			}
		case "min", "max":
			n, err := strconv.ParseUint(param, 10, 64)
			if err != nil {
				continue
			}
			applyBound(s, t.Kind(), name == "min", n)
		}
	}
	return nil
}

func applyBound(s *openapi3.Schema, k reflect.Kind, isMin bool, n uint64) {
	switch {
	case k == reflect.String && isMin:
		s.MinLength = n
	case k == reflect.String:
		s.MaxLength = &n
	case k == reflect.Slice && isMin:
		s.MinItems = n
	case k == reflect.Slice:
		s.MaxItems = &n
	case isMin:
		f := float64(n)
		s.Min = &f
	default:
		f := float64(n)
		s.Max = &f
	}
}

func hasRule(tag, rule string) bool {
	for _, r := range strings.Split(tag, ",") {
		if r == rule {
			return true
		}
	}
	return false
}
