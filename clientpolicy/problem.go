package clientpolicy

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// A Problem is one thing wrong with a clients file or a client (and, as
// the server's configuration reuses this type and the YAML readers below so
// that both files report problems alike, with the configuration): where it
// is (file:line, or an environment variable's name; empty
// when unknown), which field (a path such as clients[1].redirect_uris[0]),
// and what is wrong. Messages never contain secret values.
type Problem struct {
	Pos   string
	Field string
	Msg   string
}

func (p Problem) Error() string {
	var parts []string
	for _, s := range []string{p.Pos, p.Field, p.Msg} {
		if s != "" {
			parts = append(parts, s)
		}
	}
	return strings.Join(parts, ": ")
}

// Problems is every problem found in one parse or validation; Error lists
// one per line. It is never returned empty.
type Problems []Problem

func (ps Problems) Error() string {
	lines := make([]string, len(ps))
	for i, p := range ps {
		lines[i] = p.Error()
	}
	return strings.Join(lines, "\n")
}

// Unwrap lets errors.As find the individual problems.
func (ps Problems) Unwrap() []error {
	errs := make([]error, len(ps))
	for i, p := range ps {
		errs[i] = p
	}
	return errs
}

// YAMLPos formats the position of n in filename as "filename:line".
func YAMLPos(filename string, n *yaml.Node) string {
	return fmt.Sprintf("%s:%d", filename, n.Line)
}

// ParseYAMLRoot parses data as a single YAML document and returns its root
// node, or nil if there is no document or it is null (empty file, only
// comments, `---` alone).
func ParseYAMLRoot(data []byte, filename string) (*yaml.Node, *Problem) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil
		}
		return nil, yamlSyntaxProblem(filename, err)
	}
	var next yaml.Node
	switch err := dec.Decode(&next); {
	case errors.Is(err, io.EOF):
	case err != nil:
		return nil, yamlSyntaxProblem(filename, err)
	default:
		return nil, &Problem{Pos: YAMLPos(filename, &next), Msg: "a second YAML document starts here; the file must hold exactly one"}
	}
	if len(doc.Content) == 0 {
		return nil, nil
	}
	root := doc.Content[0]
	if root.Kind == yaml.ScalarNode && root.ShortTag() == "!!null" {
		return nil, nil
	}
	return root, nil
}

func yamlSyntaxProblem(filename string, err error) *Problem {
	// yaml.v3 writes "yaml: line N: message" when it knows the line.
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	if rest, ok := strings.CutPrefix(msg, "line "); ok {
		if num, text, ok := strings.Cut(rest, ": "); ok {
			if _, err := strconv.Atoi(num); err == nil {
				return &Problem{Pos: filename + ":" + num, Msg: "not valid YAML: " + text}
			}
		}
	}
	return &Problem{Pos: filename, Msg: "not valid YAML: " + msg}
}

// YAMLString returns the text of a scalar node, "" for null. msg says why n
// is not a string value (a list, a mapping, an alias).
func YAMLString(n *yaml.Node) (s, msg string) {
	switch n.Kind {
	case yaml.ScalarNode:
		if n.ShortTag() == "!!null" {
			return "", ""
		}
		return n.Value, ""
	case yaml.AliasNode:
		return "", "YAML aliases (*name) are not supported: write the value out"
	default:
		return "", "must be a single value, not a list or mapping"
	}
}
