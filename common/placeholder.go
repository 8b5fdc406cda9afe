package common

import "github.com/hashicorp/packer-plugin-sdk/hcl2helper"

// packerUnknown is what packer (1.7 and later, up to 1.15 at least) hands a
// source for a string it cannot compute during `packer validate`, such as a
// data source's output that was not evaluated (hcl2shim's
// WriteUnknownPlaceholderValues).
const packerUnknown = "<unknown>"

// Known is false for the placeholders `packer validate` passes for a value
// it cannot compute yet (a data source's output, say): such a value can only
// be checked when the build runs.
func Known(s string) bool { return s != hcl2helper.UnknownVariableValue && s != packerUnknown }
