// Package apitest helps tests check the admin API's answers against its
// OpenAPI document.
package apitest

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// CompileSchemas compiles every component schema of an OpenAPI 3.1
// document (doc, such as the one served at /admin/v1/openapi.json) as JSON
// Schema 2020-12, by name: for tests that check answers against the
// document.
func CompileSchemas(doc []byte) (map[string]*jsonschema.Schema, error) {
	const base = "https://gatehouse.invalid/admin/v1/openapi.json"
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(doc))
	if err != nil {
		return nil, err
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	if err := c.AddResource(base, v); err != nil {
		return nil, err
	}
	var names struct {
		Components struct {
			Schemas map[string]json.RawMessage `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(doc, &names); err != nil {
		return nil, err
	}
	out := make(map[string]*jsonschema.Schema, len(names.Components.Schemas))
	for name := range names.Components.Schemas {
		s, err := c.Compile(base + "#/components/schemas/" + name)
		if err != nil {
			return nil, fmt.Errorf("schema %s: %w", name, err)
		}
		out[name] = s
	}
	return out, nil
}
