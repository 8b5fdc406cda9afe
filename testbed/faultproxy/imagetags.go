package faultproxy

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/packer-bakery/packer-plugin-bakery/testbed/internal/awslocal"
)

// Tags given at creation to an AMI's snapshots. EC2's API reference
// (CreateImage, CopyImage: TagSpecification.N) applies a specification of
// ResourceType "image" to the new AMI and one of "snapshot" to every
// snapshot the call makes, as part of the call. moto 5.2.5 answers
// CreateImage with a snapshot specification with HTTP 500
// (NotImplementedError, having made nothing) and ignores CopyImage's
// specifications altogether. The proxy stands in: it takes the snapshot
// specifications out of a CreateImage before moto sees it, and once moto
// answered with the new AMI's ID (and for CopyImage, every specification),
// it tags the AMI and its snapshots itself, through moto, before the caller
// gets the reply. A caller never sees the AMI without its tags. If that
// tagging fails, the proxy removes what moto made and answers InternalError,
// so the call has no effect, as a failed call on AWS.
//
// What it proves: what the caller sends (the wire format of EC2's API
// reference) and what it reads back from DescribeImages/DescribeSnapshots.
// Not: IAM's evaluation of aws:RequestTag for the snapshots (moto checks
// action names only), nor EC2's own refusals of tags beyond an unknown
// resource type.

// ResignHeader marks a request whose body the proxy changed after its
// caller signed it: the IAM gate (testbed/iam.go) signs it again with the
// caller's own key, so that moto still judges it as the caller's.
const ResignHeader = "X-Bakery-Testbed-Resign"

// tagSpec is one TagSpecification.N of a query-protocol request.
type tagSpec struct {
	resourceType string
	tags         []types.Tag
}

// tagSpecs reads the TagSpecification.N parameters of params, in N's order.
func tagSpecs(params url.Values) []tagSpec {
	byN := map[int]*tagSpec{}
	tags := map[int]map[int]*types.Tag{}
	for k, v := range params {
		rest, ok := strings.CutPrefix(k, "TagSpecification.")
		if !ok || len(v) == 0 {
			continue
		}
		ns, field, _ := strings.Cut(rest, ".")
		n, err := strconv.Atoi(ns)
		if err != nil {
			continue
		}
		if byN[n] == nil {
			byN[n], tags[n] = &tagSpec{}, map[int]*types.Tag{}
		}
		if field == "ResourceType" {
			byN[n].resourceType = v[0]
			continue
		}
		// Tag.M.Key, Tag.M.Value
		parts := strings.Split(field, ".")
		if len(parts) != 3 || parts[0] != "Tag" {
			continue
		}
		m, err := strconv.Atoi(parts[1])
		if err != nil {
			continue
		}
		if tags[n][m] == nil {
			tags[n][m] = &types.Tag{}
		}
		switch parts[2] {
		case "Key":
			tags[n][m].Key = aws.String(v[0])
		case "Value":
			tags[n][m].Value = aws.String(v[0])
		}
	}
	var out []tagSpec
	for _, n := range sortedKeys(byN) {
		s := byN[n]
		for _, m := range sortedKeys(tags[n]) {
			s.tags = append(s.tags, *tags[n][m])
		}
		out = append(out, *s)
	}
	return out
}

func sortedKeys[V any](m map[int]V) []int {
	keys := make([]int, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Ints(keys)
	return keys
}

// withoutSpecs is params with only the TagSpecifications keep holds,
// numbered again from 1.
func withoutSpecs(params url.Values, keep func(tagSpec) bool) url.Values {
	out := url.Values{}
	for k, v := range params {
		if !strings.HasPrefix(k, "TagSpecification.") {
			out[k] = v
		}
	}
	n := 0
	for _, s := range tagSpecs(params) {
		if !keep(s) {
			continue
		}
		n++
		prefix := "TagSpecification." + strconv.Itoa(n) + "."
		out.Set(prefix+"ResourceType", s.resourceType)
		for m, t := range s.tags {
			out.Set(prefix+"Tag."+strconv.Itoa(m+1)+".Key", aws.ToString(t.Key))
			out.Set(prefix+"Tag."+strconv.Itoa(m+1)+".Value", aws.ToString(t.Value))
		}
	}
	return out
}

// creationTags are the tags the stand-in gives a new AMI and its snapshots
// once moto made them.
type creationTags struct {
	image, snapshot []types.Tag
}

func (c creationTags) empty() bool { return len(c.image) == 0 && len(c.snapshot) == 0 }

// imageTagsAtCreation prepares the stand-in for req (CreateImage or
// CopyImage): the body to forward (body unchanged when moto can take it)
// and the tags left to the proxy.
func imageTagsAtCreation(req request, body []byte) (forward []byte, later creationTags, refused *awsError) {
	if req.Service != "ec2" || (req.Action != "CreateImage" && req.Action != "CopyImage") || req.Params == nil {
		return body, creationTags{}, nil
	}
	specs := tagSpecs(req.Params)
	for _, s := range specs {
		switch s.resourceType {
		case "image":
			if req.Action == "CopyImage" { // moto drops it
				later.image = append(later.image, s.tags...)
			}
		case "snapshot":
			later.snapshot = append(later.snapshot, s.tags...)
		default:
			if req.Action == "CopyImage" { // CreateImage: moto refuses it itself
				return nil, creationTags{}, &awsError{http.StatusBadRequest, "InvalidParameterValue",
					fmt.Sprintf("'%s' is not a valid taggable resource type for this operation.", s.resourceType)}
			}
		}
	}
	if req.Action == "CreateImage" && len(later.snapshot) > 0 {
		params := withoutSpecs(req.Params, func(s tagSpec) bool { return s.resourceType != "snapshot" })
		return []byte(params.Encode()), later, nil
	}
	return body, later, nil
}

// tagCreated gives AMI id in req's region and its snapshots the tags, as
// the bed (the IAM gate's administrator): for EC2 this is part of the
// caller's call, which IAM already judged. On failure it removes the AMI
// and its snapshots again.
func (p *Proxy) tagCreated(req request, id string, tags creationTags) error {
	ctx, cancel := context.WithTimeout(context.Background(), forwardTimeout)
	defer cancel()
	cfg, err := awslocal.Config(p.upstream.String(), req.Region)
	if err != nil {
		return err
	}
	client := ec2.NewFromConfig(cfg)
	out, err := client.DescribeImages(ctx, &ec2.DescribeImagesInput{ImageIds: []string{id}})
	if err != nil || len(out.Images) != 1 {
		return fmt.Errorf("describing %s: %v (%d images)", id, err, imageCount(out))
	}
	var snaps []string
	for _, m := range out.Images[0].BlockDeviceMappings {
		if m.Ebs != nil && m.Ebs.SnapshotId != nil {
			snaps = append(snaps, *m.Ebs.SnapshotId)
		}
	}
	var errs []error
	if len(tags.image) > 0 {
		_, err := client.CreateTags(ctx, &ec2.CreateTagsInput{Resources: []string{id}, Tags: tags.image})
		errs = append(errs, err)
	}
	if len(tags.snapshot) > 0 && len(snaps) > 0 {
		_, err := client.CreateTags(ctx, &ec2.CreateTagsInput{Resources: snaps, Tags: tags.snapshot})
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		// Undo: the caller is told the call failed.
		_, _ = client.DeregisterImage(ctx, &ec2.DeregisterImageInput{ImageId: aws.String(id)})
		for _, s := range snaps {
			_, _ = client.DeleteSnapshot(ctx, &ec2.DeleteSnapshotInput{SnapshotId: aws.String(s)})
		}
		return fmt.Errorf("tagging %s and its snapshots %v: %w", id, snaps, err)
	}
	p.logf("faultproxy: %s %s: tagged %s (%d tags) and its snapshots %v (%d tags) at creation", req.Region, req.Call, id, len(tags.image), snaps, len(tags.snapshot))
	return nil
}

func imageCount(out *ec2.DescribeImagesOutput) int {
	if out == nil {
		return 0
	}
	return len(out.Images)
}

// resignable returns r for a forward with a changed body: marked for the
// IAM gate to sign again.
func resignable(r *http.Request) *http.Request {
	out := r.Clone(r.Context())
	out.Header.Set(ResignHeader, "1")
	return out
}
