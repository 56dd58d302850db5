package file

import "testing"

// FuzzParse checks that no input crashes the parser and that every object it accepts is valid.
func FuzzParse(f *testing.F) {
	f.Add([]byte(goodYAML))
	f.Add([]byte(`{"items": [{"apiVersion": "edgeagent.io/v1alpha1", "kind": "WAFScript", "metadata": {"name": "x"}, "spec": {"code": "x"}}]}`))
	f.Add([]byte("- &a {apiVersion: edgeagent.io/v1alpha1, kind: WAFScript, metadata: {name: x}, spec: {code: y}}\n- *a\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		set, err := Parse("file", []Input{{Name: "f.yaml", Data: data}})
		if err != nil {
			return
		}
		for _, byKey := range set {
			for key, o := range byKey {
				if err := o.Spec.Validate(key); err != nil {
					t.Fatalf("accepted an invalid object %s %s: %v", o.Kind, key, err)
				}
			}
		}
	})
}
