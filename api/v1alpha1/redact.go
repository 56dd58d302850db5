package v1alpha1

import (
	"reflect"
)

// Redaction is what a secret field reads as wherever an object is printed or served.
const Redaction = "<redacted>"

// Secret fields carry the struct tag `secret:"true"`. RedactSpec walks the spec by reflection so
// that a new secret field is redacted by adding the tag, not by remembering to edit a function.

// RedactSpec returns a deep copy of spec with every string field tagged `secret:"true"` that is
// not empty replaced by Redaction. Specs without secrets come back equal to the input.
func RedactSpec(spec Spec) Spec {
	if spec == nil {
		return nil
	}
	v := reflect.ValueOf(spec)
	out := redactValue(v)
	if s, ok := out.Interface().(Spec); ok {
		return s
	}
	return spec
}

func redactValue(v reflect.Value) reflect.Value {
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			return v
		}
		n := reflect.New(v.Elem().Type())
		n.Elem().Set(redactValue(v.Elem()))
		return n
	case reflect.Struct:
		n := reflect.New(v.Type()).Elem()
		n.Set(v)
		t := v.Type()
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			if !f.IsExported() {
				continue
			}
			fv := n.Field(i)
			if f.Tag.Get("secret") == "true" {
				switch fv.Kind() {
				case reflect.String:
					if fv.String() != "" {
						fv.SetString(Redaction)
					}
				case reflect.Slice:
					if fv.Len() > 0 && fv.Type().Elem().Kind() == reflect.Uint8 {
						fv.SetBytes([]byte(Redaction))
					}
				}
				continue
			}
			fv.Set(redactValue(fv))
		}
		return n
	case reflect.Slice:
		if v.IsNil() || !containsStruct(v.Type().Elem()) {
			return v
		}
		n := reflect.MakeSlice(v.Type(), v.Len(), v.Len())
		for i := 0; i < v.Len(); i++ {
			n.Index(i).Set(redactValue(v.Index(i)))
		}
		return n
	case reflect.Map:
		if v.IsNil() || !containsStruct(v.Type().Elem()) {
			return v
		}
		n := reflect.MakeMapWithSize(v.Type(), v.Len())
		it := v.MapRange()
		for it.Next() {
			n.SetMapIndex(it.Key(), redactValue(it.Value()))
		}
		return n
	}
	return v
}

func containsStruct(t reflect.Type) bool {
	for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice || t.Kind() == reflect.Map {
		t = t.Elem()
	}
	return t.Kind() == reflect.Struct
}
