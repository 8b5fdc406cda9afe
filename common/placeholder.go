package common

import "github.com/hashicorp/packer-plugin-sdk/hcl2helper"

// Known is false for the placeholder `packer validate` passes for a value it
// cannot compute yet (a data source's output, say): such a value can only be
// checked when the build runs.
func Known(s string) bool { return s != hcl2helper.UnknownVariableValue }
