package ebs

import (
	"context"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/hashicorp/packer-plugin-sdk/communicator"
	"github.com/hashicorp/packer-plugin-sdk/multistep"
	"github.com/hashicorp/packer-plugin-sdk/multistep/commonsteps"
	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"

	bakery "github.com/packer-bakery/packer-plugin-bakery/common"
	"github.com/packer-bakery/packer-plugin-bakery/common/journal"
	"github.com/packer-bakery/packer-plugin-bakery/common/tunnel/eice"
	tssm "github.com/packer-bakery/packer-plugin-bakery/common/tunnel/ssm"
)

// ec2Client is what the plan hands its steps: the union of their small
// interfaces, each step keeping only its own. *ec2.Client satisfies it.
type ec2Client interface {
	regionDescriber
	bakery.ImageDescriber
	networkDescriber
	keyPairImporter
	securityGroupManager
	instanceRunner
	spotLauncher
	instanceStopper
	instanceAttributeModifier
	imageCreator
	imageCopier
	imageAttributeSetter
	imageSharer
	eice.API
}

// awsClients are the clients of one build: EC2 per region ("" for the build
// region), IAM, and STS's decoding of refusals.
type awsClients struct {
	ec2    func(region string) ec2Client
	iam    instanceProfileManager
	decode func(context.Context, error) error
	// What the tunnels (`ssh_interface = "session_manager"` or
	// "instance_connect_endpoint") need: Session Manager's API, and the
	// credentials and HTTP transport that sign and carry their websockets.
	ssm   tssm.API
	kms   tssm.KMSAPI // a session's data key, when the account encrypts sessions
	creds aws.CredentialsProvider
	http  *http.Client
}

// sessionClients are the clients of a session.
func sessionClients(sess *bakery.Session) awsClients {
	return awsClients{
		ec2:    func(region string) ec2Client { return sess.EC2(region) },
		iam:    sess.IAM(),
		decode: sess.DecodeAuthorizationError,
		ssm:    ssm.NewFromConfig(sess.Config),
		kms:    kms.NewFromConfig(sess.Config),
		creds:  sess.Config.Credentials,
		http:   sdkHTTPClient(sess.Config),
	}
}

// noClients plan a build that is never run: for the calls it declares.
func noClients() awsClients {
	return awsClients{ec2: func(string) ec2Client { return nil }}
}

// planDeps is what a plan needs besides the Config.
type planDeps struct {
	region  string
	buildID string
	// principal is the caller's aws:PrincipalArn (ownerPrincipal); empty
	// when unknown (skip_credential_validation).
	principal string
	clients   awsClients
	journal   *journal.Journal // nil records nothing
	ui        packersdk.Ui     // nil for a plan that is never run
}

// plan is the whole bake, in order: every step the build runs for cfg, and
// so every AWS call it makes (each step declares its own; see calls.go).
// The permission check at its head asks about the calls of the steps
// after it.
func plan(cfg *Config, d planDeps) []multistep.Step {
	dist := &cfg.AMIDistributionConfig
	ec2 := d.clients.ec2("")
	names := temporaryNames(d.buildID, &cfg.Comm)
	temporary := bakery.Tags{bakery.TagBuildID: d.buildID, bakery.TagCreatedAt: time.Now().UTC().Format(time.RFC3339), bakery.TagCreatedBy: createdBy()}
	if d.principal != "" {
		temporary[bakery.TagPrincipal] = d.principal
	}
	poll := cfg.PollingConfig.poll(cfg.StateTimeout)
	copyRegions := dist.copyRegions(d.region)
	// Options that may use {{ .SourceAMIName }} and the like: filled in by
	// stepRenderTemplates; until then they hold the templates as written.
	templates := newBuildTemplates(cfg.ctx)
	makesImage := !dist.AMISkipCreateImage // else a test run: no image, so no name to check either

	var steps []multistep.Step
	add := func(s ...multistep.Step) { steps = append(steps, s...) }
	if cfg.DecodeAuthzMessages { // first, so that its Cleanup runs last
		add(&stepDecodeRefusal{decode: d.clients.decode})
	}
	if !cfg.SkipRegionValidation {
		add(&stepValidateRegion{ec2: ec2, region: d.region, copies: copyRegions, refusalChecked: !cfg.SkipPermissionCheck})
	}
	check := &stepPreflight{}
	add(check)
	if makesImage {
		if !dist.AMISkipBuildRegion {
			add(&stepCheckAMIName{ec2: ec2, name: cfg.AMIName, region: d.region, force: cfg.AMIForceDeregister})
		}
		for _, r := range copyRegions {
			add(&stepCheckAMIName{ec2: d.clients.ec2(r), name: cfg.AMIName, region: r, force: cfg.AMIForceDeregister})
		}
	}
	source := &stepSourceAMI{ec2: ec2, sourceAMI: cfg.SourceAMI, filter: cfg.SourceAMIFilter, region: d.region, lookup: new(sourceImageLookup)}
	add(source,
		&stepRenderTemplates{templates: templates, region: d.region},
		&stepCheckEnhancedNetworking{ena: dist.AMIENASupport, sriov: dist.AMISriovNetSupport, virtType: dist.AMIVirtType},
		&stepNetwork{ec2: ec2, vpcID: cfg.VpcID, vpcFilter: cfg.VpcFilter, subnetID: cfg.SubnetID,
			subnetFilter: cfg.SubnetFilter, availabilityZone: cfg.AvailabilityZone})
	iface := cfg.SSHInterface.SSHInterface
	group := &stepSecurityGroup{ec2: ec2, ids: cfg.SecurityGroupIDs, filter: cfg.SecurityGroupFilter, name: names.group, vpcID: cfg.VpcID,
		port: cfg.Comm.Port(), cidrs: cfg.TemporarySGSourceCidrs, publicIP: cfg.TemporarySGSourcePublicIP,
		tags: templates.TagsBetween("run_tags", bakery.Tags{"Name": names.group}, cfg.RunTags, temporary), written: templates.Written,
		tunnel: iface, poll: poll, journal: d.journal}
	if iface == interfaceEICE { // before the group, which admits the endpoint's groups
		add(&stepFindEndpoint{ec2: ec2, id: cfg.InstanceConnectEndpointID, ownGroup: group.temporary(), port: cfg.Comm.Port()})
	}
	// run_tags reach the key pair and the security group too, as in
	// amazon-ebs, at creation: tag-based cleanup and policies that
	// require tags on every created resource rely on it.
	add(&stepKeyPair{ec2: ec2, comm: &cfg.Comm, name: names.keyPair, journal: d.journal,
		tags: templates.TagsBetween("run_tags", bakery.Tags{"Name": names.keyPair}, cfg.RunTags, temporary), written: templates.Written},
		group,
		&stepIAMInstanceProfile{iam: d.clients.iam, existing: cfg.IamInstanceProfile, skipValidation: cfg.SkipProfileValidation,
			document: cfg.TemporaryIamInstanceProfilePolicyDocument, boundary: cfg.TemporaryIamRolePermissionsBoundary, name: names.profile, probe: names.probe,
			tags: templates.TagsBetween("run_tags", nil, cfg.RunTags, temporary), poll: poll, journal: d.journal},
	)
	launch := &stepRunInstance{ec2: &profileLauncher{instanceRunner: ec2, say: d.say}, instanceType: cfg.InstanceType,
		associatePublicIP: cfg.AssociatePublicIpAddress, sourceAMI: cfg.SourceAMI, source: source.imageID, comm: &cfg.Comm,
		subnetID: cfg.SubnetID, securityGroupIDs: cfg.SecurityGroupIDs, profile: cfg.IamInstanceProfile,
		tags:       templates.TagsBetween("run_tags", bakery.Tags{"Name": "Packer Builder"}, cfg.RunTags, temporary),
		volumeTags: templates.TagsBetween("run_volume_tags", nil, cfg.VolumeRunTags, temporary), options: cfg.InstanceConfig,
		clientToken: names.clientToken, poll: poll, journal: d.journal, written: templates.Written,
		fallbackTypes: cfg.FallbackInstanceTypes, fallbackSubnets: cfg.FallbackSubnets, subnets: ec2}
	if spot := cfg.SpotConfig; spot.IsSpot() {
		add(&stepRunSpotInstance{ec2: ec2, onDemand: launch, input: launch.input, price: spot.SpotPrice, instanceTypes: spot.SpotInstanceTypes,
			allocationStrategy: spot.SpotAllocationStrategy, name: names.launchTemplate, temporary: temporary,
			spotTags: templates.Tags("spot_tags", spot.SpotTags), fleetTags: templates.Tags("fleet_tags", spot.FleetTags),
			clientToken: names.clientToken, poll: poll, journal: d.journal, written: templates.Written})
	} else {
		add(launch)
	}
	host := sshHost(cfg.Comm.SSHHost, iface)
	var tunnel *stepTunnel
	if isTunnel(iface) {
		tunnel = newStepTunnel(cfg, d)
		add(tunnel)
	}
	pin := new(hostKeyPin) // the instance's host key, from the first handshake on
	add(&stepConnect{inner: &communicator.StepConnect{Config: &cfg.Comm, Host: host, SSHConfig: pin.wrap(cfg.Comm.SSHConfigFunc())},
		ec2: ec2, comm: &cfg.Comm, keyName: names.keyPair, host: host, pin: pin},
		&commonsteps.StepProvision{},
		&commonsteps.StepCleanupTempKeys{Comm: &cfg.Comm})
	if tunnel != nil { // the instance stops next: no session outlives provisioning
		add(&stepTunnelDone{tunnel: tunnel})
	}
	if cfg.IsSpot() { // EC2 cannot stop a spot instance of an instant fleet
		add(&stepSpotNoStop{})
	} else {
		add(&stepStopInstance{ec2: ec2, poll: poll, disabled: cfg.DisableStopInstance})
	}
	add(&stepModifyInstanceAttrs{ec2: ec2, ena: dist.AMIENASupport, sriov: dist.AMISriovNetSupport})
	if makesImage {
		add(imageSteps(cfg, d, names, temporary, templates, poll)...)
	}
	if !cfg.SkipPermissionCheck {
		check.checks = permissionChecks(steps)
	}
	return steps
}

// imageSteps are the steps from CreateImage on: the image, its encryption,
// copies, attributes and sharing.
func imageSteps(cfg *Config, d planDeps, names names, temporary bakery.Tags, templates *buildTemplates, poll bakery.Poll) []multistep.Step {
	dist := &cfg.AMIDistributionConfig
	ec2 := d.clients.ec2("")
	copyRegions := dist.copyRegions(d.region)
	amiTags := templates.Tags("tags", cfg.AMITags)
	// The snapshots carry `tags` too, snapshot_tags winning on a key, as
	// in amazon-ebs (cost allocation by tag counts snapshots).
	snapshotTags := templates.Tags("snapshot_tags", bakery.Tags(cfg.AMITags).Merge(cfg.SnapshotTags))
	description := templates.Text("ami_description", cfg.AMIDescription)
	encrypt := dist.AMIEncryptBootVolume.True()
	kmsKey := func(r string) string { return dist.kmsKey(r, d.region) }
	owner := ownedTags(d.principal)
	deregister := func(client imageDeleter) *stepDeregisterExisting {
		return &stepDeregisterExisting{ec2: client, name: cfg.AMIName, force: cfg.AMIForceDeregister, deleteSnapshots: cfg.AMIForceDeleteSnapshot}
	}

	// With encrypt_boot or skip_save_build_region, CreateImage makes an
	// intermediate AMI under a name of its own; it is tagged as a
	// temporary, like the instance, so that it is never taken for a
	// product.
	name, tags := cfg.AMIName, amiTags
	if encrypt || dist.AMISkipBuildRegion {
		name = names.intermediateImage
		tags = bakery.Tags{"Name": name}.Merge(temporary)
	}
	var bootMode types.BootModeOverrideValues
	if dist.BootMode == bootModeUEFI {
		bootMode = types.BootModeOverrideValuesUefi
	}
	var deprecateAt time.Time
	if dist.DeprecationTime != "" {
		deprecateAt, _ = time.Parse(time.RFC3339, dist.DeprecationTime) // checked by Prepare
	}

	var steps []multistep.Step
	if !dist.AMISkipBuildRegion {
		steps = append(steps, deregister(ec2))
	}
	for _, r := range copyRegions {
		steps = append(steps, deregister(d.clients.ec2(r)))
	}
	steps = append(steps,
		&stepCreateImage{ec2: ec2, name: name, description: description, tags: tags, owner: owner, mappings: cfg.AMIMappings.ec2(false),
			region: d.region, poll: poll, journal: d.journal, bootMode: bootMode, written: templates.Written},
		&stepTagSnapshots{ec2: ec2, tags: snapshotTags, written: templates.Written},
	)
	if encrypt && !dist.AMISkipBuildRegion {
		steps = append(steps, &stepEncryptImage{ec2: ec2, region: d.region, name: cfg.AMIName, description: description,
			kmsKey: kmsKey(d.region), buildID: d.buildID, tags: amiTags, snapshotTags: snapshotTags, owner: owner, poll: poll, journal: d.journal, written: templates.Written})
	}
	if t := &cfg.AMITest; t.enabled() {
		// Before anything makes the AMI visible: copies, sharing,
		// deprecation, and the post-processors after the build.
		steps = append(steps,
			&stepTestInstance{ec2: ec2, instanceType: t.InstanceType,
				tags:        bakery.Tags{"Name": "Packer AMI test"}.Merge(temporary),
				clientToken: names.clientToken + "-test", poll: poll, journal: d.journal})
		// The test instance is reached as the build's was: through a
		// tunnel of its own when `ssh_interface` names one.
		var tunnel *stepTunnel
		if iface := cfg.SSHInterface.SSHInterface; isTunnel(iface) {
			tunnel = newStepTunnel(cfg, d)
			tunnel.instance = getTestInstance
			steps = append(steps, tunnel)
		}
		// The test instance's host key, pinned at its first handshake as
		// the build instance's is: it is another machine, with a key of
		// its own.
		pin := new(hostKeyPin)
		steps = append(steps,
			&communicator.StepConnect{Config: &cfg.Comm, Host: sshHostOf(cfg.Comm.SSHHost, cfg.SSHInterface.SSHInterface, getTestInstance),
				SSHConfig: pin.wrap(cfg.Comm.SSHConfigFunc())})
		if len(t.Inline) > 0 {
			steps = append(steps, &stepTestChecks{inline: t.Inline})
		}
		if t.playbook != nil {
			steps = append(steps, &stepTestPlaybook{playbook: t.playbook, playbookFile: t.Ansible.PlaybookFile, comm: &cfg.Comm, pin: pin})
		}
		if tunnel != nil {
			steps = append(steps, &stepTunnelDone{tunnel: tunnel})
		}
	}
	return append(steps,
		&stepCopyImages{client: func(r string) imageCopier { return d.clients.ec2(r) }, buildRegion: d.region, regions: copyRegions,
			name: cfg.AMIName, description: description, encrypt: encrypt, kmsKey: kmsKey, buildID: d.buildID,
			tags: amiTags, snapshotTags: snapshotTags, owner: owner, skipBuildRegion: dist.AMISkipBuildRegion, poll: poll, journal: d.journal, written: templates.Written},
		&stepAMIAttributes{client: func(r string) imageAttributeSetter { return d.clients.ec2(r) }, buildRegion: d.region,
			imdsSupport: dist.AMIIMDSSupport, deprecateAt: deprecateAt, deprecates: dist.DeprecationTime != ""},
		&stepShareImages{client: func(r string) imageSharer { return d.clients.ec2(r) }, buildRegion: d.region,
			users: dist.AMIUsers, groups: dist.AMIGroups, orgARNs: dist.AMIOrgArns, ouARNs: dist.AMIOuArns,
			snapshotUsers: dist.SnapshotUsers, snapshotGroups: dist.SnapshotGroups, kmsKey: kmsKey},
	)
}

// newStepTunnel opens the tunnel `ssh_interface` names to the build's
// instance; the AMI test's sets instance.
func newStepTunnel(cfg *Config, d planDeps) *stepTunnel {
	return &stepTunnel{iface: cfg.SSHInterface.SSHInterface, comm: &cfg.Comm, remotePort: cfg.Comm.Port(), localPort: cfg.SessionManagerPort,
		pause: cfg.PauseBeforeSSM, wait: cfg.Comm.SSHTimeout, region: d.region, creds: d.clients.creds, httpClient: d.clients.http,
		ssm: d.clients.ssm, kms: d.clients.kms, endpointID: cfg.InstanceConnectEndpointID}
}

// say shows a message, for what reports outside a step's Run.
func (d planDeps) say(msg string) {
	if d.ui != nil {
		d.ui.Say(msg)
	}
}
