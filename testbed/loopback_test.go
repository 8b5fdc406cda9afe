package testbed

import "testing"

func TestRequireLoopback(t *testing.T) {
	tests := []struct {
		url string
		ok  bool
		why string
	}{
		{"http://127.0.0.1:5000", true, "IPv4 loopback"},
		{"http://127.0.0.1", true, "no port"},
		{"https://127.8.9.10:443/path", true, "all of 127.0.0.0/8"},
		{"http://[::1]:5000", true, "IPv6 loopback"},
		{"http://localhost:5000", true, "localhost"},
		{"http://LOCALHOST:5000", true, "host names are case-insensitive"},
		{"http://128.0.0.1:5000", false, "just outside 127/8"},
		{"http://10.0.0.1:5000", false, "private network"},
		{"https://ec2.us-east-1.amazonaws.com", false, "real AWS"},
		{"http://localhost.example.com", false, "only the exact name localhost"},
		{"http://127.0.0.1.nip.io", false, "DNS name that looks like loopback"},
		{"http://[::2]:5000", false, "not ::1"},
		{"http://0.0.0.0:5000", false, "unspecified is not loopback"},
		{"127.0.0.1:5000", false, "no scheme"},
		{"ftp://127.0.0.1", false, "not http(s)"},
		{"", false, "empty"},
		{"http://", false, "no host"},
		{"http://user@evil.example@127.0.0.1", false, "user info is refused"},
	}
	for _, tt := range tests {
		err := RequireLoopback(tt.url)
		if (err == nil) != tt.ok {
			t.Errorf("RequireLoopback(%q) = %v, want ok=%v (%s)", tt.url, err, tt.ok, tt.why)
		}
	}
}
