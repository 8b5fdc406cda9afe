package faultproxy

import (
	"testing"
	"time"
)

func TestWaitsRecordPollsAndLag(t *testing.T) {
	moto := newFakeMoto(t)
	clock := newFakeClock()
	p := startProxy(t, moto.URL, withClock(clock.now), WithConfig(Config{Readiness: Readiness{
		InstancePending: 30 * time.Second, ImagePending: 120 * time.Second,
	}}))

	mustCall(t, p, "ec2", "RunInstances")
	for range 3 { // three looks while pending, 10 s apart
		mustCall(t, p, "ec2", "DescribeInstances")
		clock.advance(10 * time.Second)
	}
	clock.advance(2 * time.Second) // ready at 30 s, seen at 32 s
	mustCall(t, p, "ec2", "DescribeInstances")
	clock.advance(5 * time.Second)
	mustCall(t, p, "ec2", "DescribeInstances") // later looks change nothing

	mustCall(t, p, "ec2", "CreateImage", "InstanceId", runningID, "Name", "x")
	mustCall(t, p, "ec2", "DescribeImages")
	clock.advance(121 * time.Second)
	mustCall(t, p, "ec2", "DescribeImages")

	ws := p.Waits()
	if len(ws) != 2 {
		t.Fatalf("waits: %+v", ws)
	}
	inst, img := ws[0], ws[1]
	if inst.ID != runningID || inst.What != "instance running" || inst.Polls != 3 || inst.Lag != 2*time.Second {
		t.Errorf("instance wait: %+v", inst)
	}
	if img.What != "image available" || img.Polls != 1 || img.Lag != time.Second || img.Seen.IsZero() {
		t.Errorf("image wait: %+v", img)
	}

	p.Reset()
	if ws := p.Waits(); len(ws) != 0 {
		t.Errorf("after Reset: %+v", ws)
	}
}

func TestWaitsNotRecordedWithoutDelay(t *testing.T) {
	moto := newFakeMoto(t)
	p := startProxy(t, moto.URL, WithConfig(Config{Readiness: Readiness{ImagePending: time.Minute}}))
	mustCall(t, p, "ec2", "RunInstances")
	mustCall(t, p, "ec2", "DescribeInstances")
	if ws := p.Waits(); len(ws) != 0 {
		t.Errorf("an instance without a pending delay is no wait: %+v", ws)
	}
}
