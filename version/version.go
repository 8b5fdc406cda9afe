// Package version holds the plugin's version, reported by `describe` and sent
// in the AWS user agent. Release builds set VersionPrerelease to "" with
// -ldflags.
package version

import "github.com/hashicorp/packer-plugin-sdk/version"

var (
	// Version is the main version number that is being run at the moment.
	Version = "0.1.0"
	// VersionPrerelease marks a build that is not a release; "dev" for
	// builds from a checkout.
	VersionPrerelease = "dev"
	// VersionMetadata is optional build metadata (a commit, a date).
	VersionMetadata = ""
	// PluginVersion is what the plugin set reports.
	PluginVersion = version.NewPluginVersion(Version, VersionPrerelease, VersionMetadata)
)
