package config

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Load reads the configuration at path. A JSON file (a .json name, or content starting with '{')
// whose top level has the PeerAPI agent's sections (peerApiCenter, server, ipConfig, wireGuard...) is the PeerAPI agent's config.json
// and is translated (see LoadPeerAPIJSON); anything else is native YAML (JSON is YAML too), where
// an unknown key is an error. Keys a file does not set keep Default's values. An empty path
// returns Default. Load does not Validate: apply flag overrides first, then Validate.
func Load(path string) (*Config, []Warning, error) {
	if path == "" {
		return Default(), nil, nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("config: %w", err)
	}
	// The PeerAPI agent's -c accepted any file name: sniff JSON objects whatever the extension.
	looksJSON := bytes.HasPrefix(bytes.TrimSpace(data), []byte("{"))
	if (strings.EqualFold(filepath.Ext(path), ".json") || looksJSON) && isPeerAPIJSON(data) {
		return ParsePeerAPIJSON(filepath.Base(path), data)
	}
	c, err := ParseYAML(filepath.Base(path), data)
	return c, nil, err
}

// ParseYAML decodes a native configuration over Default. name labels errors. Every unknown key
// is an error that names its path and line.
func ParseYAML(name string, data []byte) (*Config, error) {
	c := Default()
	if len(bytes.TrimSpace(data)) == 0 {
		return c, nil
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		return nil, fmt.Errorf("%s line %d: a config file holds one YAML document", name, extra.Line)
	}
	var errs []error
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	decodeInto(root, reflect.ValueOf(c).Elem(), "", &errs)
	if len(errs) > 0 {
		for i, e := range errs {
			errs[i] = fmt.Errorf("%s %w", name, e)
		}
		return nil, errors.Join(errs...)
	}
	return c, nil
}

// NodeError is a problem at a line of a YAML file.
type NodeError struct {
	Line  int
	Field string
	Msg   string
}

// Error renders "line <n>: <field>: <message>".
func (e *NodeError) Error() string {
	if e.Field == "" {
		return fmt.Sprintf("line %d: %s", e.Line, e.Msg)
	}
	return fmt.Sprintf("line %d: %s: %s", e.Line, e.Field, e.Msg)
}

var durationType = reflect.TypeOf(time.Duration(0))

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// decodeInto decodes n into v field by field so that unknown keys and type errors name the full
// key path and line, which yaml.v3's own errors (Go type names) do not.
func decodeInto(n *yaml.Node, v reflect.Value, path string, errs *[]error) {
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return // "key:" with no value keeps the default
	}
	if v.Kind() == reflect.Struct && v.Type() != durationType {
		if n.Kind != yaml.MappingNode {
			*errs = append(*errs, &NodeError{Line: n.Line, Field: path, Msg: "must be a mapping of keys"})
			return
		}
		fields := yamlFields(v.Type())
		seen := map[string]int{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, val := n.Content[i], n.Content[i+1]
			key := k.Value
			p := join(path, key)
			if prev, dup := seen[key]; dup {
				*errs = append(*errs, &NodeError{Line: k.Line, Field: p, Msg: fmt.Sprintf("key given twice (first at line %d)", prev)})
				continue
			}
			seen[key] = k.Line
			idx, ok := fields[key]
			if !ok {
				*errs = append(*errs, &NodeError{Line: k.Line, Field: p, Msg: "unknown key" + suggest(key, fields)})
				continue
			}
			decodeInto(val, v.Field(idx), p, errs)
		}
		return
	}
	if err := n.Decode(v.Addr().Interface()); err != nil {
		msg := err.Error()
		var te *yaml.TypeError
		if errors.As(err, &te) && len(te.Errors) > 0 {
			msg = te.Errors[0]
			// yaml.v3 says "line N: cannot unmarshal !!str `x` into int"; keep the part after the line.
			if _, rest, ok := strings.Cut(msg, ": "); ok && strings.HasPrefix(msg, "line ") {
				msg = rest
			}
		}
		*errs = append(*errs, &NodeError{Line: n.Line, Field: path, Msg: msg})
	}
}

// yamlFields maps a struct's yaml key names to field indexes.
func yamlFields(t reflect.Type) map[string]int {
	m := map[string]int{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		m[name] = i
	}
	return m
}

// suggest names a known key that differs only in case, else lists the known keys.
func suggest(key string, fields map[string]int) string {
	names := make([]string, 0, len(fields))
	for k := range fields {
		if strings.EqualFold(k, key) {
			return fmt.Sprintf(" (did you mean %q?)", k)
		}
		names = append(names, k)
	}
	sort.Strings(names)
	return " (known keys: " + strings.Join(names, ", ") + ")"
}

// Flags holds the command-line overrides bound to a FlagSet.
type Flags struct {
	fs                                             *flag.FlagSet
	opsListen, stateDir, file, logFormat, logLevel string
	allowMassDelete                                bool
}

// BindFlags defines --ops-listen, --state-dir, --file, --log-format, --log-level and
// --allow-mass-delete on fs. After fs.Parse, Flags.Overrides returns the ones actually given.
func BindFlags(fs *flag.FlagSet) *Flags {
	f := &Flags{fs: fs}
	fs.StringVar(&f.opsListen, "ops-listen", "", "ops HTTP listen address (overrides ops.listen)")
	fs.StringVar(&f.stateDir, "state-dir", "", "state directory (overrides stateDir)")
	fs.StringVar(&f.file, "file", "", "file or directory of desired objects (overrides sources.file.path)")
	fs.StringVar(&f.logFormat, "log-format", "", "console or json (overrides log.format)")
	fs.StringVar(&f.logLevel, "log-level", "", "error, warn, info, debug, trace or a number (overrides log.level)")
	fs.BoolVar(&f.allowMassDelete, "allow-mass-delete", false, "let the deletion guard pass mass deletions (overrides controller.deletionGuard.allowMassDelete)")
	return f
}

// Overrides returns the flags the user set; flags left out do not override the file.
func (f *Flags) Overrides() Overrides {
	var o Overrides
	f.fs.Visit(func(fl *flag.Flag) {
		switch fl.Name {
		case "ops-listen":
			o.OpsListen = &f.opsListen
		case "state-dir":
			o.StateDir = &f.stateDir
		case "file":
			o.File = &f.file
		case "log-format":
			o.LogFormat = &f.logFormat
		case "log-level":
			o.LogLevel = &f.logLevel
		case "allow-mass-delete":
			o.AllowMassDelete = &f.allowMassDelete
		}
	})
	return o
}
