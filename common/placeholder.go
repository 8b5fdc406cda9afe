package common

import "github.com/hashicorp/packer-plugin-sdk/hcl2helper"

// packerUnknown is what packer (v1.15.0, hcl2template's
// WriteUnknownPlaceholderValues) puts in a source's or data source's
// configuration for a string it cannot compute yet: `packer validate`
// without -evaluate-datasources gives it for every data source output,
// e.g. `source_ami = data.bakery-ami.x.id`.
const packerUnknown = "<unknown>"

// Known is false for the placeholders `packer validate` passes for a value
// it cannot compute yet (a data source's output, say): such a value can
// only be checked when the build runs. Older packers and the SDK use
// hcl2helper's sentinel, packer v1.15.0 "<unknown>".
func Known(s string) bool {
	return s != hcl2helper.UnknownVariableValue && s != packerUnknown
}
