package adminapi

import (
	"bytes"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/go-chi/chi/v5"
	"github.com/pb33f/libopenapi/datamodel"
	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/gatehouse-idp/gatehouse/adminapi/apitest"
)

// Every route the router serves is in the document, and every documented
// path and method is routed.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	routes, ok := New(Config{}).Handler().(chi.Routes)
	if !ok {
		t.Fatal("Handler is not a chi router")
	}
	var routed []string
	err := chi.Walk(routes, func(method, route string, _ http.Handler, _ ...func(http.Handler) http.Handler) error {
		routed = append(routed, method+" "+strings.TrimSuffix(route, "/"))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(openAPIDocument, &doc); err != nil {
		t.Fatal(err)
	}
	var documented []string
	for path, item := range doc.Paths {
		for method := range item {
			if method != "parameters" {
				documented = append(documented, strings.ToUpper(method)+" "+path)
			}
		}
	}
	slices.Sort(routed)
	slices.Sort(documented)
	for _, r := range routed {
		if !slices.Contains(documented, r) {
			t.Errorf("routed but not documented: %s", r)
		}
	}
	for _, d := range documented {
		if !slices.Contains(routed, d) {
			t.Errorf("documented but not routed: %s", d)
		}
	}
	if len(routed) < 25 {
		t.Errorf("only %d routes walked: %v", len(routed), routed)
	}
}

// The document is valid OpenAPI 3.1: it passes the official OpenAPI 3.1
// JSON Schema (https://spec.openapis.org/oas/3.1/schema/2022-10-07, as
// libopenapi embeds it), and each of its component schemas compiles as
// JSON Schema 2020-12, OpenAPI 3.1's dialect.
func TestOpenAPIDocumentIsValid(t *testing.T) {
	oas, err := jsonschema.UnmarshalJSON(strings.NewReader(datamodel.OpenAPI31SchemaData))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource("https://spec.openapis.org/oas/3.1/schema/2022-10-07", oas); err != nil {
		t.Fatal(err)
	}
	schema, err := c.Compile("https://spec.openapis.org/oas/3.1/schema/2022-10-07")
	if err != nil {
		t.Fatal(err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(openAPIDocument))
	if err != nil {
		t.Fatalf("openapi.json is not JSON: %v", err)
	}
	if err := schema.Validate(doc); err != nil {
		t.Fatalf("openapi.json is not valid OpenAPI 3.1: %v", err)
	}

	// The schema above does not look into Schema Objects: compile them.
	schemas, err := apitest.CompileSchemas(openAPIDocument)
	if err != nil {
		t.Fatal(err)
	}
	if len(schemas) < 20 {
		t.Errorf("compiled %d component schemas, want every one", len(schemas))
	}

	// The check can fail: a document that breaks the rules is refused.
	for _, bad := range []struct{ name, doc string }{
		{"no info", `{"openapi":"3.1.0","paths":{}}`},
		{"a 3.0 version", `{"openapi":"3.0.3","info":{"title":"x","version":"1"},"paths":{}}`},
		{"an operation without responses", `{"openapi":"3.1.0","info":{"title":"x","version":"1"},"paths":{"/a":{"get":{"responses":"none"}}}}`},
	} {
		v, _ := jsonschema.UnmarshalJSON(strings.NewReader(bad.doc))
		if schema.Validate(v) == nil {
			t.Errorf("a document with %s passed", bad.name)
		}
	}
}
