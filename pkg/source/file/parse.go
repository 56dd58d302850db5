package file

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/edgeagent/edgeagent/api/v1alpha1"
)

// APIVersion is the apiVersion every document must carry.
const APIVersion = "edgeagent.io/v1alpha1"

// Extensions are the file name extensions read from a directory.
var Extensions = []string{".yaml", ".yml", ".json"}

// Input is one file's name and content.
type Input struct {
	Name string
	Data []byte
}

// ReadInputs reads path: a file, or a directory whose *.yaml, *.yml and *.json files (not
// hidden, symlinks followed, not recursive) are read in name order.
func ReadInputs(path string) ([]Input, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("file source: %w", err)
	}
	if !st.IsDir() {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("file source: %w", err)
		}
		return []Input{{Name: path, Data: data}}, nil
	}
	entries, err := os.ReadDir(path)
	if err != nil {
		return nil, fmt.Errorf("file source: %w", err)
	}
	var in []Input
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, ".") || !hasExt(name) {
			continue
		}
		full := filepath.Join(path, name)
		// Stat follows symlinks, as in a Kubernetes ConfigMap volume.
		fst, err := os.Stat(full)
		if err != nil {
			return nil, fmt.Errorf("file source: %w", err)
		}
		if !fst.Mode().IsRegular() {
			continue
		}
		data, err := os.ReadFile(full)
		if err != nil {
			return nil, fmt.Errorf("file source: %w", err)
		}
		in = append(in, Input{Name: full, Data: data})
	}
	return in, nil
}

func hasExt(name string) bool {
	ext := strings.ToLower(filepath.Ext(name))
	for _, e := range Extensions {
		if ext == e {
			return true
		}
	}
	return false
}

// LoadPath reads and parses path into objects owned by source (see Parse).
func LoadPath(source, path string) (v1alpha1.ObjectSet, error) {
	in, err := ReadInputs(path)
	if err != nil {
		return nil, err
	}
	return Parse(source, in)
}

type place struct {
	file string
	line int
}

// Parse decodes every input into one object set. Each object's owner is its file name. Every
// problem of every file is returned (joined); each names the file, the line, and when known the
// kind, key and field. A kind/key defined twice is an error naming both places.
func Parse(source string, inputs []Input) (v1alpha1.ObjectSet, error) {
	set := v1alpha1.ObjectSet{}
	where := map[v1alpha1.Kind]map[string]place{}
	var errs []error
	for _, in := range inputs {
		objs, lines, err := parseFile(source, in)
		if err != nil {
			errs = append(errs, err)
		}
		for i, o := range objs {
			if where[o.Kind] == nil {
				where[o.Kind] = map[string]place{}
			}
			if prev, dup := where[o.Kind][o.Key]; dup {
				errs = append(errs, fmt.Errorf("%s %s: defined twice: %s line %d and %s line %d", o.Kind, o.Key, prev.file, prev.line, in.Name, lines[i]))
				continue
			}
			where[o.Kind][o.Key] = place{in.Name, lines[i]}
			set.Add(o)
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return set, nil
}

// docError is a problem in a document before its kind and key are known.
func docError(file string, line int, field, reason string) error {
	return fmt.Errorf("%s line %d: %s: %s", file, line, field, reason)
}

// objError is a problem of a known object; it is a *v1alpha1.FieldError with the line.
func objError(file string, line int, kind v1alpha1.Kind, key, field, value, reason string) error {
	return fmt.Errorf("%s: %w", file, &v1alpha1.FieldError{Kind: kind, Key: key, Field: field, Value: value, Reason: reason, Line: line})
}

// parseFile decodes one file: YAML documents (JSON is YAML), each one object, a list of
// objects, or {"items": [...]}. Every good object is returned with its line even when others
// fail, so that duplicates are still found.
func parseFile(source string, in Input) ([]*v1alpha1.Object, []int, error) {
	dec := yaml.NewDecoder(bytes.NewReader(in.Data))
	var objs []*v1alpha1.Object
	var lines []int
	var errs []error
	for {
		var doc yaml.Node
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", in.Name, err))
			break // the decoder cannot resynchronise after a syntax error
		}
		root := &doc
		if root.Kind == yaml.DocumentNode {
			if len(root.Content) == 0 {
				continue
			}
			root = root.Content[0]
		}
		var items []*yaml.Node
		switch {
		case root.Kind == yaml.ScalarNode && root.Tag == "!!null":
			continue // an empty document, e.g. after a trailing ---
		case root.Kind == yaml.SequenceNode:
			items = root.Content
		case root.Kind == yaml.MappingNode && mappingValue(root, "items") != nil && isList(mappingValue(root, "kind")):
			for i := 0; i+1 < len(root.Content); i += 2 {
				if k := root.Content[i].Value; k != "items" && k != "apiVersion" && k != "kind" {
					errs = append(errs, docError(in.Name, root.Content[i].Line, k, "unknown key in a list (allowed: apiVersion, kind: List, items)"))
				}
			}
			list := mappingValue(root, "items")
			if list.Kind != yaml.SequenceNode {
				errs = append(errs, docError(in.Name, list.Line, "items", "must be a list of objects"))
				continue
			}
			items = list.Content
		default:
			items = []*yaml.Node{root}
		}
		for _, n := range items {
			o, err := decodeObject(source, in.Name, n)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			objs = append(objs, o)
			lines = append(lines, n.Line)
		}
	}
	return objs, lines, errors.Join(errs...)
}

// isList accepts a list without kind or with kind: List, as kubectl writes them.
func isList(kind *yaml.Node) bool {
	return kind == nil || (kind.Kind == yaml.ScalarNode && kind.Value == "List")
}

func mappingValue(n *yaml.Node, key string) *yaml.Node {
	if n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

// decodeObject decodes one {apiVersion, kind, metadata: {name}, spec} mapping.
func decodeObject(source, file string, n *yaml.Node) (*v1alpha1.Object, error) {
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	if n.Kind != yaml.MappingNode {
		return nil, docError(file, n.Line, "object", "must be a mapping with apiVersion, kind, metadata and spec")
	}
	var apiVersion, kindS, name string
	var apiNode, kindNode, meta, specNode *yaml.Node
	var errs []error
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if seen[k.Value] {
			errs = append(errs, docError(file, k.Line, k.Value, "given twice"))
			continue
		}
		seen[k.Value] = true
		switch k.Value {
		case "apiVersion":
			apiNode, apiVersion = v, v.Value
		case "kind":
			kindNode, kindS = v, v.Value
		case "metadata":
			meta = v
		case "spec":
			specNode = v
		default:
			errs = append(errs, docError(file, k.Line, k.Value, "unknown key (allowed: apiVersion, kind, metadata, spec)"))
		}
	}
	line := n.Line
	if apiNode == nil {
		errs = append(errs, docError(file, line, "apiVersion", "required: "+APIVersion))
	} else if apiVersion != APIVersion {
		errs = append(errs, docError(file, apiNode.Line, "apiVersion", fmt.Sprintf("must be %s (got %q)", APIVersion, apiVersion)))
	}
	kind := v1alpha1.Kind(kindS)
	spec := v1alpha1.NewSpec(kind)
	if kindNode == nil {
		errs = append(errs, docError(file, line, "kind", "required: one of "+v1alpha1.KindList()))
	} else if spec == nil {
		errs = append(errs, docError(file, kindNode.Line, "kind", fmt.Sprintf("must be one of %s (got %q)", v1alpha1.KindList(), kindS)))
	}
	if meta == nil {
		errs = append(errs, docError(file, line, "metadata.name", "required"))
	} else if meta.Kind != yaml.MappingNode {
		errs = append(errs, docError(file, meta.Line, "metadata", "must be a mapping with name"))
	} else {
		for i := 0; i+1 < len(meta.Content); i += 2 {
			k, v := meta.Content[i], meta.Content[i+1]
			if k.Value != "name" {
				errs = append(errs, docError(file, k.Line, "metadata."+k.Value, "unknown key (allowed: name)"))
				continue
			}
			if v.Kind != yaml.ScalarNode {
				errs = append(errs, docError(file, v.Line, "metadata.name", "must be a string"))
				continue
			}
			name = v.Value
		}
		if name == "" {
			errs = append(errs, docError(file, meta.Line, "metadata.name", "required"))
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}

	if specNode != nil && !(specNode.Kind == yaml.ScalarNode && specNode.Tag == "!!null") {
		var ferrs []error
		checkNode(specNode, reflect.TypeOf(spec).Elem(), "spec", func(field string, at *yaml.Node, reason string) {
			ferrs = append(ferrs, objError(file, at.Line, kind, name, field, "", reason))
		})
		if len(ferrs) > 0 {
			return nil, errors.Join(ferrs...)
		}
		var generic any
		if err := specNode.Decode(&generic); err != nil {
			return nil, objError(file, specNode.Line, kind, name, "spec", "", err.Error())
		}
		b, err := json.Marshal(generic)
		if err != nil {
			return nil, objError(file, specNode.Line, kind, name, "spec", "", err.Error())
		}
		jd := json.NewDecoder(bytes.NewReader(b))
		jd.DisallowUnknownFields()
		if err := jd.Decode(spec); err != nil {
			field := "spec"
			var te *json.UnmarshalTypeError
			if errors.As(err, &te) && te.Field != "" {
				field = "spec." + te.Field
				err = fmt.Errorf("cannot use a %s here", te.Value)
			}
			return nil, objError(file, specNode.Line, kind, name, field, "", err.Error())
		}
	}
	o, err := v1alpha1.NewObject(source, file, name, spec)
	if err != nil {
		setLine(err, line)
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	return o, nil
}

// setLine records the object's line in every FieldError inside err.
func setLine(err error, line int) {
	var fe *v1alpha1.FieldError
	if errors.As(err, &fe) && fe.Line == 0 {
		fe.Line = line
	}
	switch u := err.(type) {
	case interface{ Unwrap() []error }:
		for _, e := range u.Unwrap() {
			setLine(e, line)
		}
	case interface{ Unwrap() error }:
		if e := u.Unwrap(); e != nil {
			setLine(e, line)
		}
	}
}

// checkNode compares a YAML node with the Go type it will decode into, by the type's JSON field
// names, and reports unknown fields and wrong shapes with the node's own line.
func checkNode(n *yaml.Node, t reflect.Type, path string, report func(field string, at *yaml.Node, reason string)) {
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return
	}
	switch t.Kind() {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			report(path, n, "must be a mapping")
			return
		}
		fields := jsonFields(t)
		seen := map[string]bool{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			p := path + "." + k.Value
			if seen[k.Value] {
				report(p, k, "given twice")
				continue
			}
			seen[k.Value] = true
			ft, ok := fields[k.Value]
			if !ok {
				report(p, k, "unknown field"+suggest(k.Value, fields))
				continue
			}
			checkNode(v, ft, p, report)
		}
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			report(path, n, "must be a mapping")
			return
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			checkNode(n.Content[i+1], t.Elem(), path+"."+n.Content[i].Value, report)
		}
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			report(path, n, "must be a list")
			return
		}
		for i, c := range n.Content {
			checkNode(c, t.Elem(), fmt.Sprintf("%s[%d]", path, i), report)
		}
	case reflect.String:
		if n.Kind != yaml.ScalarNode || n.Tag != "!!str" {
			report(path, n, "must be a string"+quoteHint(n))
		}
	case reflect.Bool:
		if n.Kind != yaml.ScalarNode || n.Tag != "!!bool" {
			report(path, n, "must be true or false")
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		if n.Kind != yaml.ScalarNode || n.Tag != "!!int" {
			report(path, n, "must be an integer")
		}
	case reflect.Float32, reflect.Float64:
		if n.Kind != yaml.ScalarNode || (n.Tag != "!!int" && n.Tag != "!!float") {
			report(path, n, "must be a number")
		}
	}
}

func quoteHint(n *yaml.Node) string {
	if n.Kind == yaml.ScalarNode {
		return fmt.Sprintf(" (got %s %s: quote it)", strings.TrimPrefix(n.Tag, "!!"), n.Value)
	}
	return ""
}

// jsonFields maps the JSON names of t's fields (embedded structs inlined) to their types.
func jsonFields(t reflect.Type) map[string]reflect.Type {
	m := map[string]reflect.Type{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		name, _, _ := strings.Cut(tag, ",")
		if name == "-" {
			continue
		}
		if f.Anonymous && name == "" {
			et := f.Type
			if et.Kind() == reflect.Pointer {
				et = et.Elem()
			}
			if et.Kind() == reflect.Struct {
				for k, v := range jsonFields(et) {
					m[k] = v
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
		m[name] = f.Type
	}
	return m
}

func suggest(key string, fields map[string]reflect.Type) string {
	names := make([]string, 0, len(fields))
	for k := range fields {
		if strings.EqualFold(k, key) {
			return fmt.Sprintf(" (did you mean %q?)", k)
		}
		names = append(names, k)
	}
	sort.Strings(names)
	return " (known fields: " + strings.Join(names, ", ") + ")"
}
