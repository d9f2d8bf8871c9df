package sdk

import (
	"encoding"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"time"
)

// schemaOf derives a JSON Schema (draft 2020-12 subset, as OpenAPI 3.1 uses)
// from an example value, following encoding/json's rules: exported fields,
// json tags, omitempty fields optional, embedded structs inlined. It is run
// once at start-up, so plain reflection is fine.
func schemaOf(example any) (json.RawMessage, error) {
	if example == nil {
		return nil, nil
	}
	s, err := schemaFor(reflect.TypeOf(example), map[reflect.Type]bool{})
	if err != nil {
		return nil, err
	}
	return json.Marshal(s)
}

var (
	timeType      = reflect.TypeFor[time.Time]()
	rawType       = reflect.TypeFor[json.RawMessage]()
	marshalerType = reflect.TypeFor[json.Marshaler]()
	textType      = reflect.TypeFor[encoding.TextMarshaler]()
)

type schema = map[string]any

func schemaFor(t reflect.Type, seen map[reflect.Type]bool) (schema, error) {
	switch t {
	case timeType:
		return schema{"type": "string", "format": "date-time"}, nil
	case rawType:
		return schema{}, nil
	}
	if t.Kind() == reflect.Pointer {
		return schemaFor(t.Elem(), seen)
	}
	if t.Implements(marshalerType) || reflect.PointerTo(t).Implements(marshalerType) {
		return schema{}, nil // its JSON shape is its own business
	}
	if t.Implements(textType) || reflect.PointerTo(t).Implements(textType) {
		return schema{"type": "string"}, nil
	}
	switch t.Kind() {
	case reflect.Bool:
		return schema{"type": "boolean"}, nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return schema{"type": "integer"}, nil
	case reflect.Float32, reflect.Float64:
		return schema{"type": "number"}, nil
	case reflect.String:
		return schema{"type": "string"}, nil
	case reflect.Interface:
		return schema{}, nil
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 && t.Kind() == reflect.Slice {
			return schema{"type": "string", "contentEncoding": "base64"}, nil
		}
		items, err := schemaFor(t.Elem(), seen)
		if err != nil {
			return nil, err
		}
		return schema{"type": "array", "items": items}, nil
	case reflect.Map:
		if t.Key().Kind() != reflect.String {
			return nil, fmt.Errorf("map key of %s must be a string", t)
		}
		values, err := schemaFor(t.Elem(), seen)
		if err != nil {
			return nil, err
		}
		return schema{"type": "object", "additionalProperties": values}, nil
	case reflect.Struct:
		return structSchema(t, seen)
	}
	return nil, fmt.Errorf("type %s has no JSON form", t)
}

func structSchema(t reflect.Type, seen map[reflect.Type]bool) (schema, error) {
	if seen[t] {
		return schema{"type": "object"}, nil // a recursive type: stop here
	}
	seen[t] = true
	defer delete(seen, t)

	props := schema{}
	var required []string
	if err := addFields(t, seen, props, &required); err != nil {
		return nil, err
	}
	s := schema{"type": "object", "properties": props, "additionalProperties": false}
	if len(required) > 0 {
		s["required"] = required
	}
	return s, nil
}

func addFields(t reflect.Type, seen map[reflect.Type]bool, props schema, required *[]string) error {
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" {
			et := f.Type
			if et.Kind() == reflect.Pointer {
				et = et.Elem()
			}
			if et.Kind() == reflect.Struct {
				if err := addFields(et, seen, props, required); err != nil {
					return err
				}
				continue
			}
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		fs, err := schemaFor(f.Type, seen)
		if err != nil {
			return fmt.Errorf("field %s: %w", f.Name, err)
		}
		if strings.Contains(opts, "string") {
			fs = schema{"type": "string"}
		}
		if format := f.Tag.Get("format"); format != "" { // "binary" for a file, "uuid"
			fs["format"] = format
		}
		if typ, ok := fs["type"].(string); ok && f.Type.Kind() == reflect.Pointer {
			fs["type"] = []string{typ, "null"} // a nil pointer encodes as null
		}
		props[name] = fs
		if !strings.Contains(opts, "omitempty") && !strings.Contains(opts, "omitzero") {
			*required = append(*required, name)
		}
	}
	return nil
}
