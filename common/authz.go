package common

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

type authorizationDecoder interface {
	DecodeAuthorizationMessage(context.Context, *sts.DecodeAuthorizationMessageInput, ...func(*sts.Options)) (*sts.DecodeAuthorizationMessageOutput, error)
}

// encodedAuthzMessage finds the opaque blob EC2 appends to an
// UnauthorizedOperation error.
var encodedAuthzMessage = regexp.MustCompile(`Encoded authorization failure message: ([A-Za-z0-9_+/=-]+)`)

// DecodeAuthorizationError returns err with its encoded authorization
// message decoded, when `decode_authorization_messages` is set and err holds
// one; otherwise err unchanged. It needs sts:DecodeAuthorizationMessage; if
// that fails too, the error says so and keeps the original.
func (s *Session) DecodeAuthorizationError(ctx context.Context, err error) error {
	if err == nil || !s.access.DecodeAuthzMessages {
		return err
	}
	return decodeAuthorizationError(ctx, s.STS(), err)
}

func decodeAuthorizationError(ctx context.Context, client authorizationDecoder, err error) error {
	m := encodedAuthzMessage.FindStringSubmatch(err.Error())
	if m == nil {
		return err
	}
	out, derr := client.DecodeAuthorizationMessage(ctx, &sts.DecodeAuthorizationMessageInput{EncodedMessage: aws.String(m[1])})
	if derr != nil {
		return fmt.Errorf("%w\n(decoding the authorization message with STS DecodeAuthorizationMessage failed too: %w)", err, derr)
	}
	return fmt.Errorf("%w\nDecoded authorization message: %s", err, summarizeAuthz(aws.ToString(out.DecodedMessage)))
}

// summarizeAuthz puts the denied action and resource first; the full
// decoded document follows, since its conditions are often the answer.
func summarizeAuthz(decoded string) string {
	var doc struct {
		Allowed      bool `json:"allowed"`
		ExplicitDeny bool `json:"explicitDeny"`
		Context      struct {
			Principal struct {
				ARN string `json:"arn"`
			} `json:"principal"`
			Action   string `json:"action"`
			Resource string `json:"resource"`
		} `json:"context"`
	}
	if err := json.Unmarshal([]byte(decoded), &doc); err != nil || doc.Context.Action == "" {
		return decoded
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s was denied %s on %s", orUnknown(doc.Context.Principal.ARN), doc.Context.Action, orUnknown(doc.Context.Resource))
	if doc.ExplicitDeny {
		b.WriteString(" by an explicit Deny statement")
	} else {
		b.WriteString(" (no policy allows it)")
	}
	b.WriteString("\n" + decoded)
	return b.String()
}

func orUnknown(s string) string {
	if s == "" {
		return "(unknown)"
	}
	return s
}
