package faultproxy

import "testing"

// TestDryRunsAreNeitherFaultedNorCounted: the builder's permission check
// dry-runs its calls before every build; a fault limited to RunInstances
// with Max 1 must still hit the real launch, not its dry run. Dry runs are
// counted apart.
func TestDryRunsAreNeitherFaultedNorCounted(t *testing.T) {
	moto := newFakeMoto(t)
	p := startProxy(t, moto.URL, WithConfig(Config{LoseReply: Fault{Rate: 1, Max: 1, Actions: []string{"RunInstances"}}}))
	if status, body := mustCall(t, p, "ec2", "RunInstances", "DryRun", "true", "ImageId", "ami-1"); status != 200 {
		t.Fatalf("dry run: HTTP %d %s", status, body)
	}
	if n := p.Count("ec2", "RunInstances"); n != 0 {
		t.Errorf("the dry run was counted: %d", n)
	}
	if inj := p.Injected(); len(inj) != 0 {
		t.Errorf("the dry run was faulted: %v", inj)
	}
	if _, _, err := awsCall(p, "ec2", "RunInstances", "ImageId", "ami-1"); err == nil {
		t.Error("the real launch's reply was not lost")
	}
	if n := p.Count("ec2", "RunInstances"); n != 1 {
		t.Errorf("the real launch counted %d times", n)
	}
	if d := p.DryRuns(); len(d) != 1 || d[Call{"ec2", "RunInstances"}] != 1 {
		t.Errorf("dry runs counted %v, want one ec2:RunInstances", d)
	}
	if got := moto.calls(); len(got) != 2 {
		t.Errorf("moto saw %v: both calls must reach it", got)
	}
}

func TestDryRunsCountAgainstTheRateLimit(t *testing.T) {
	moto := newFakeMoto(t)
	p := startProxy(t, moto.URL, WithConfig(Config{RateLimit: RateLimit{PerSecond: 0.001, Burst: 1}}))
	if status, _ := mustCall(t, p, "ec2", "DescribeVpcs", "DryRun", "true"); status != 200 {
		t.Fatalf("first dry run: HTTP %d", status)
	}
	if status, _ := mustCall(t, p, "ec2", "DescribeVpcs", "DryRun", "true"); status != 400 {
		t.Errorf("second dry run over a burst of 1: HTTP %d, want 400 (throttled)", status)
	}
	if status, _ := mustCall(t, p, "ec2", "DescribeVpcs"); status != 400 {
		t.Errorf("a real call after the dry runs used the budget: HTTP %d, want 400", status)
	}
}

func TestIAMProbesAreNeitherFaultedNorCounted(t *testing.T) {
	moto := newFakeMoto(t)
	p := startProxy(t, moto.URL, WithConfig(Config{LoseReply: Fault{Rate: 1, Max: 1, Actions: []string{"iam:DeleteRole"}}}))
	if status, _ := mustCall(t, p, "iam", "DeleteRole", "RoleName", "packer_bakery_permission_check_abc"); status != 200 {
		t.Fatalf("probe: HTTP %d", status)
	}
	if n := p.Count("iam", "DeleteRole"); n != 0 {
		t.Errorf("the probe was counted: %d", n)
	}
	if _, _, err := awsCall(p, "iam", "DeleteRole", "RoleName", "packer_bakery_build"); err == nil {
		t.Error("the real DeleteRole's reply was not lost")
	}
}
