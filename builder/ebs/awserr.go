package ebs

import (
	"errors"
	"fmt"
	"strings"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/smithy-go"
)

// apiErrorCode is the AWS error code of err ("" for nil or a non-API error).
func apiErrorCode(err error) string {
	if err == nil {
		return ""
	}
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		return apiErr.ErrorCode()
	}
	return "unknown"
}

// authorizationCodes are the error codes of a refused call: EC2's, and the
// generic one other services (and moto, for every service) use.
var authorizationCodes = map[string]bool{
	"UnauthorizedOperation":        true,
	"Client.UnauthorizedOperation": true,
	"AccessDenied":                 true,
	"AccessDeniedException":        true,
}

func isAuthorizationError(err error) bool {
	if authorizationCodes[apiErrorCode(err)] {
		return true
	}
	// An HTTP 403 whose body the SDK could not read (moto's IAM refusals):
	// a refusal too; 403s with a code of their own (expired or invalid
	// credentials) are not.
	var resp *awshttp.ResponseError
	return errors.As(err, &resp) && resp.HTTPStatusCode() == 403 && apiErrorCode(err) == "UnknownError"
}

// withPermissionHint names the IAM action of a refused call: EC2's own
// message ("You are not authorized to perform this operation") does not.
func withPermissionHint(err error) error {
	var op *smithy.OperationError
	if !isAuthorizationError(err) || !errors.As(err, &op) {
		return err
	}
	return fmt.Errorf("%w\n(missing IAM permission %s:%s; see docs/iam-policy.md)", err, strings.ToLower(op.ServiceID), op.OperationName)
}
