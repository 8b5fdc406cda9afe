package common

import (
	"reflect"
	"strings"
)

// EachOption calls fn with every option of the config struct v (its
// exported fields named by a mapstructure tag), going into squashed
// blocks: how the checks that look at every option reach them.
func EachOption(v reflect.Value, fn func(option string, field reflect.Value)) {
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, opts, _ := strings.Cut(f.Tag.Get("mapstructure"), ",")
		switch {
		case opts == "squash" && f.Type.Kind() == reflect.Struct:
			EachOption(v.Field(i), fn)
		case name != "" && name != "-":
			fn(name, v.Field(i))
		}
	}
}
