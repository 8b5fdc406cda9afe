package tunnels

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// verifyHeaderSignature checks a request signed in its headers (the
// Session Manager data channel's upgrade, as the plugin signs it: GET,
// empty payload, host and x-amz-date signed) by signing a copy again with
// the SDK's own signer at the time it claims.
func verifyHeaderSignature(r *http.Request, service string, secretOf func(string) (string, bool)) error {
	auth := r.Header.Get("Authorization")
	if auth == "" {
		return errors.New("no SigV4 Authorization header")
	}
	var scope []string
	for _, f := range strings.Split(strings.TrimPrefix(auth, "AWS4-HMAC-SHA256 "), ",") {
		if k, v, ok := strings.Cut(strings.TrimSpace(f), "="); ok && k == "Credential" {
			scope = strings.Split(v, "/")
		}
	}
	if len(scope) != 5 || scope[3] != service || scope[4] != "aws4_request" {
		return fmt.Errorf("Authorization is not signed for %s: %q", service, auth)
	}
	secret, ok := secretOf(scope[0])
	if !ok {
		return fmt.Errorf("unknown access key %s", scope[0])
	}
	at, err := time.Parse("20060102T150405Z", r.Header.Get("X-Amz-Date"))
	if err != nil {
		return fmt.Errorf("X-Amz-Date %q", r.Header.Get("X-Amz-Date"))
	}
	if d := time.Since(at); d > 5*time.Minute || d < -5*time.Minute {
		return fmt.Errorf("signed at %s, more than 5 minutes from now", at)
	}
	again, err := http.NewRequest(r.Method, "http://"+r.Host+r.URL.RequestURI(), nil)
	if err != nil {
		return err
	}
	if tok := r.Header.Get("X-Amz-Security-Token"); tok != "" {
		again.Header.Set("X-Amz-Security-Token", tok)
	}
	empty := sha256.Sum256(nil)
	creds := aws.Credentials{AccessKeyID: scope[0], SecretAccessKey: secret, SessionToken: r.Header.Get("X-Amz-Security-Token")}
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, again, hex.EncodeToString(empty[:]), service, scope[2], at); err != nil {
		return err
	}
	if !hmac.Equal([]byte(again.Header.Get("Authorization")), []byte(auth)) {
		return errors.New("SigV4 signature does not match")
	}
	return nil
}
