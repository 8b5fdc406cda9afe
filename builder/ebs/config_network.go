//go:generate go tool packer-sdc struct-markdown
//go:generate go tool packer-sdc mapstructure-to-hcl2 -type NetworkConfig,VpcFilterOptions,SubnetFilterOptions,SecurityGroupFilterOptions

package ebs

import (
	"encoding/csv"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/hashicorp/packer-plugin-sdk/template/config"
)

// NetworkConfig chooses the VPC, subnet and security groups by EC2 filters
// instead of by ID, as amazon-ebs does.
type NetworkConfig struct {
	// Selects `vpc_id` by [DescribeVpcs
	// filters](https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DescribeVpcs.html),
	// e.g. `vpc_filter { filters = { "tag:Class" = "build" } }`. Exactly one
	// available VPC must match, or the build stops before it creates
	// anything. With `vpc_id` also set, `vpc_id` wins, as in amazon-ebs,
	// and a warning says the filter is ignored.
	VpcFilter VpcFilterOptions `mapstructure:"vpc_filter" required:"false"`
	// Selects `subnet_id` by [DescribeSubnets
	// filters](https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DescribeSubnets.html),
	// among the available subnets of the VPC (`vpc_id` or `vpc_filter`, if
	// set) in `availability_zone` (if set). Exactly one subnet must match
	// unless `most_free` or `random` is set. With `subnet_id` also set,
	// `subnet_id` wins, as in amazon-ebs, with a warning.
	SubnetFilter SubnetFilterOptions `mapstructure:"subnet_filter" required:"false"`
	// Selects existing security groups by [DescribeSecurityGroups
	// filters](https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DescribeSecurityGroups.html)
	// in the build's VPC; every group that matches is attached, and no
	// temporary group is made. Unlike amazon-ebs, a filter that matches no
	// group stops the build (amazon-ebs launches with the VPC's default
	// group). With `security_group_ids` also set, they win, as in
	// amazon-ebs, with a warning.
	SecurityGroupFilter SecurityGroupFilterOptions `mapstructure:"security_group_filter" required:"false"`
	// One existing security group: amazon-ebs's older, singular form of
	// `security_group_ids`, into which it is folded. Set one of the two.
	SecurityGroupID string `mapstructure:"security_group_id" required:"false"`
	// Let only this machine's public IP address reach the communicator port
	// of the temporary security group (a /32, or /128 for IPv6), instead
	// of `temporary_security_group_source_cidrs`' default of everyone. The
	// address is what https://checkip.amazonaws.com answers, asked once at
	// the start of the build. Default `false`. As in amazon-ebs, it is
	// ignored, with a warning, next to `temporary_security_group_source_cidrs`
	// or existing security groups.
	TemporarySGSourcePublicIP bool `mapstructure:"temporary_security_group_source_public_ip" required:"false"`
}

// VpcFilterOptions is the `vpc_filter` block.
type VpcFilterOptions struct {
	// DescribeVpcs filters, name = value. Several values of one filter are
	// separated by commas, as in amazon-ebs (`"cidr" = "10.0.0.0/16,
	// 10.1.0.0/16"`); quote a value that holds a comma in double quotes.
	// `state = available` is always added.
	Filters map[string]string `mapstructure:"filters" required:"false"`
	// The same as `filters`, one `filter { name = "…" value = "…" }` block
	// per filter: amazon-ebs's block form.
	Filter config.NameValues `mapstructure:"filter" required:"false"`
}

// SubnetFilterOptions is the `subnet_filter` block.
type SubnetFilterOptions struct {
	// DescribeSubnets filters, name = value, as in `vpc_filter`. `state =
	// available` is always added, and so are `vpc-id` and
	// `availability-zone` when the VPC or zone is known.
	Filters map[string]string `mapstructure:"filters" required:"false"`
	// The same as `filters`, as `filter { name = "…" value = "…" }` blocks.
	Filter config.NameValues `mapstructure:"filter" required:"false"`
	// When several subnets match, take the one with the most free IPv4
	// addresses (ties go to the lowest subnet ID, so the choice is
	// reproducible).
	MostFree bool `mapstructure:"most_free" required:"false"`
	// When several subnets match, take one at random. With `most_free`
	// also set, `most_free` wins, as in amazon-ebs, with a warning.
	Random bool `mapstructure:"random" required:"false"`
}

// SecurityGroupFilterOptions is the `security_group_filter` block.
type SecurityGroupFilterOptions struct {
	// DescribeSecurityGroups filters, name = value, as in `vpc_filter`.
	// `vpc-id` is always added: groups of other VPCs cannot be attached.
	Filters map[string]string `mapstructure:"filters" required:"false"`
	// The same as `filters`, as `filter { name = "…" value = "…" }` blocks.
	Filter config.NameValues `mapstructure:"filter" required:"false"`
}

// Empty is true when no filter was given.
func (f *VpcFilterOptions) Empty() bool { return len(f.Filters) == 0 && len(f.Filter) == 0 }

// Empty is true when the block was not given at all.
func (f *SubnetFilterOptions) Empty() bool {
	return len(f.Filters) == 0 && len(f.Filter) == 0 && !f.MostFree && !f.Random
}

// Empty is true when no filter was given.
func (f *SecurityGroupFilterOptions) Empty() bool { return len(f.Filters) == 0 && len(f.Filter) == 0 }

// prepare runs before RunConfig's: it folds `security_group_id` into
// `security_group_ids` so that RunConfig's rules see both spellings, and it
// alone decides the default of `temporary_security_group_source_cidrs`.
// Where amazon-ebs lets one of two options win, so does it, and it says so
// in a warning and drops the other, so that later code sees one.
func (n *NetworkConfig) prepare(run *RunConfig) (warnings []string, errs []error) {
	errs = append(errs, prepareFilters("vpc_filter", &n.VpcFilter.Filters, n.VpcFilter.Filter)...)
	errs = append(errs, prepareFilters("subnet_filter", &n.SubnetFilter.Filters, n.SubnetFilter.Filter)...)
	errs = append(errs, prepareFilters("security_group_filter", &n.SecurityGroupFilter.Filters, n.SecurityGroupFilter.Filter)...)
	ignored := func(loser, why string) {
		warnings = append(warnings, fmt.Sprintf("`%s` is ignored, as in amazon-ebs: %s", loser, why))
	}

	if !n.VpcFilter.Empty() && run.VpcID != "" {
		ignored("vpc_filter", "`vpc_id` is set and wins. Remove one of them.")
		n.VpcFilter = VpcFilterOptions{}
	}
	if !n.SubnetFilter.Empty() && run.SubnetID != "" {
		ignored("subnet_filter", "`subnet_id` is set and wins. Remove one of them.")
		n.SubnetFilter = SubnetFilterOptions{}
	}
	sf := &n.SubnetFilter
	if (sf.MostFree || sf.Random) && len(sf.Filters) == 0 {
		ignored("subnet_filter", "it has `most_free` or `random` but no `filters`, so it selects nothing. Add `filters`, e.g. `filters = { \"tag:Class\" = \"build\" }`, or remove it.")
		*sf = SubnetFilterOptions{}
	}
	if sf.MostFree && sf.Random {
		ignored("subnet_filter.random", "`most_free` is set and wins. Remove one of them.")
		sf.Random = false
	}

	if n.SecurityGroupID != "" {
		if len(run.SecurityGroupIDs) > 0 {
			errs = append(errs, errors.New("`security_group_id` and `security_group_ids` both set: list every group in `security_group_ids`"))
		} else {
			run.SecurityGroupIDs = []string{n.SecurityGroupID}
		}
	}
	existing := len(run.SecurityGroupIDs) > 0
	if !n.SecurityGroupFilter.Empty() {
		if existing {
			ignored("security_group_filter", "`security_group_ids` (or `security_group_id`) is set and wins. Remove one of them.")
			n.SecurityGroupFilter = SecurityGroupFilterOptions{}
		}
		existing = true
	}
	if existing && len(run.TemporarySGSourceCidrs) > 0 {
		ignored("temporary_security_group_source_cidrs", "it only applies to the temporary security group, and the build uses existing groups. Remove it.")
		run.TemporarySGSourceCidrs = nil
	}
	if n.TemporarySGSourcePublicIP {
		switch {
		case len(run.TemporarySGSourceCidrs) > 0:
			ignored("temporary_security_group_source_public_ip", "`temporary_security_group_source_cidrs` is set and wins. Remove one of them.")
			n.TemporarySGSourcePublicIP = false
		case existing:
			ignored("temporary_security_group_source_public_ip", "it only applies to the temporary security group, and the build uses existing groups. Remove it.")
			n.TemporarySGSourcePublicIP = false
		}
	}
	// A tunnel's temporary group admits no CIDR at all.
	if len(run.TemporarySGSourceCidrs) == 0 && !n.TemporarySGSourcePublicIP && !existing && !isTunnel(run.SSHInterface.SSHInterface) {
		run.TemporarySGSourceCidrs = []string{"0.0.0.0/0"}
	}
	return warnings, errs
}

// prepareFilters merges the `filter` blocks into the `filters` map and
// checks every name and value list; key names the block in messages.
func prepareFilters(key string, filters *map[string]string, blocks config.NameValues) []error {
	var errs []error
	for _, b := range blocks {
		if _, dup := (*filters)[b.Name]; dup {
			errs = append(errs, fmt.Errorf("`%s`: filter %q is set twice (in `filters` and a `filter` block): keep one", key, b.Name))
		}
	}
	blocks.CopyOn(filters)
	for name, value := range *filters {
		if strings.TrimSpace(name) == "" {
			errs = append(errs, fmt.Errorf("`%s` has a filter with an empty name: name it as the EC2 API does, e.g. \"tag:Class\"", key))
			continue
		}
		if !known(value) {
			continue
		}
		if _, err := filterValues(value); err != nil {
			errs = append(errs, fmt.Errorf("`%s`: filter %q: %q is not a comma-separated list of values: %w", key, name, value, err))
		}
	}
	return errs
}

// filterValues splits "a, b" into [a b] as amazon-ebs does (CSV, so that
// "\"a,b\"" stays one value).
func filterValues(value string) ([]string, error) {
	r := csv.NewReader(strings.NewReader(value))
	r.TrimLeadingSpace = true
	values, err := r.Read()
	if err != nil {
		return nil, err
	}
	if _, err := r.Read(); err == nil {
		return nil, errors.New("it spans several lines")
	}
	return values, nil
}

// ec2Filters turns a filters map into EC2 filters, sorted by name so that
// requests are reproducible, with the extra name → value pairs added (they
// win over the user's, as the build depends on them).
func ec2Filters(filters map[string]string, extra ...string) ([]types.Filter, error) {
	all := map[string][]string{}
	for name, value := range filters {
		values, err := filterValues(value)
		if err != nil {
			return nil, fmt.Errorf("filter %q: %w", name, err)
		}
		all[name] = values
	}
	for i := 0; i+1 < len(extra); i += 2 {
		all[extra[i]] = []string{extra[i+1]}
	}
	names := make([]string, 0, len(all))
	for name := range all {
		names = append(names, name)
	}
	sort.Strings(names)
	out := make([]types.Filter, 0, len(names))
	for _, name := range names {
		out = append(out, types.Filter{Name: aws.String(name), Values: all[name]})
	}
	return out, nil
}
