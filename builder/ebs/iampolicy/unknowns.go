package iampolicy

import (
	"reflect"
	"slices"
	"sort"

	bakery "github.com/packer-bakery/packer-plugin-bakery/common"
)

// UnknownOptions are the options of s that have no value when the policy is
// generated (a variable given none, timestamp(), a lookup): where one of
// them scopes the policy (region, tag keys, KMS key, subnet…), the policy
// allows any value in its place. The subcommand says which, rather than
// widen the policy in silence.
func UnknownOptions(s Source) []string {
	var out []string
	unknownIn(reflect.ValueOf(s.Config), "", &out)
	sort.Strings(out)
	return slices.Compact(out)
}

func unknownIn(v reflect.Value, path string, out *[]string) {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			unknownIn(v.Elem(), path, out)
		}
	case reflect.Struct:
		bakery.EachOption(v, func(name string, field reflect.Value) { unknownIn(field, join(path, name), out) })
	case reflect.Slice, reflect.Array:
		for i := 0; i < v.Len(); i++ {
			unknownIn(v.Index(i), path, out)
		}
	case reflect.Map:
		iter := v.MapRange()
		for iter.Next() {
			unknownIn(iter.Key(), path, out)
			unknownIn(iter.Value(), path, out)
		}
	case reflect.String:
		if path != "" && !bakery.Known(v.String()) {
			*out = append(*out, path)
		}
	}
}

func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}
