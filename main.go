// Command packer-plugin-bakery is the Packer plugin that bakes AWS AMIs:
// builder `bakery-ebs`, provisioner `bakery-ansible`, data source
// `bakery-ami`, post-processors `bakery-ssm-parameter` (publish the AMI IDs)
// and `bakery-retire` (remove old AMIs). Packer starts it; `describe` lists what it registers,
// `sweep` removes what killed builds left behind, and `iam-policy` writes
// the IAM policy a template's builds need.
package main

import (
	"fmt"
	"log"
	"os"

	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"
	"github.com/hashicorp/packer-plugin-sdk/plugin"

	"github.com/packer-bakery/packer-plugin-bakery/builder/ebs"
	"github.com/packer-bakery/packer-plugin-bakery/builder/ebs/iampolicy"
	"github.com/packer-bakery/packer-plugin-bakery/builder/ebs/sweep"
	bakery "github.com/packer-bakery/packer-plugin-bakery/common"
	"github.com/packer-bakery/packer-plugin-bakery/datasource/ami"
	"github.com/packer-bakery/packer-plugin-bakery/post-processor/retire"
	"github.com/packer-bakery/packer-plugin-bakery/post-processor/ssmparameter"
	"github.com/packer-bakery/packer-plugin-bakery/provisioner/ansible"
	"github.com/packer-bakery/packer-plugin-bakery/version"
)

func main() {
	// The plugin's own log (PACKER_LOG) passes through the SDK's secret
	// filter, like its UI: the secrets the components register (secret
	// keys, tokens, MFA codes, private keys, extra vars) never reach it.
	packersdk.LogSecretFilter.SetOutput(os.Stderr)
	log.SetOutput(&packersdk.LogSecretFilter)
	// Packer runs the plugin with no arguments or with its own; `sweep`
	// is for people.
	if len(os.Args) > 1 && os.Args[1] == "sweep" {
		os.Exit(sweep.Main(os.Args[2:], os.Stdout, os.Stderr))
	}
	if len(os.Args) > 1 && os.Args[1] == bakery.ReaperCommand {
		os.Exit(bakery.RunReaper(os.Args[2:]))
	}
	if len(os.Args) > 1 && os.Args[1] == "iam-policy" {
		os.Exit(iampolicy.Main(os.Args[2:], os.Stdout, os.Stderr))
	}
	pps := plugin.NewSet()
	pps.RegisterBuilder("ebs", new(ebs.Builder))
	pps.RegisterProvisioner("ansible", new(ansible.Provisioner))
	pps.RegisterDatasource("ami", new(ami.Datasource))
	pps.RegisterPostProcessor("ssm-parameter", new(ssmparameter.PostProcessor))
	pps.RegisterPostProcessor("retire", new(retire.PostProcessor))
	pps.SetVersion(version.PluginVersion)
	if err := pps.Run(); err != nil {
		fmt.Fprintln(os.Stderr, err.Error())
		os.Exit(1)
	}
}
