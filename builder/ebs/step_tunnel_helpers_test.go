package ebs

import (
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"strconv"
)

func itoa(n int) string { return strconv.Itoa(n) }

// trusting is an HTTP client that trusts only the PEM certificate given.
func trusting(pemCert []byte) *http.Client {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pemCert)
	return &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
}
