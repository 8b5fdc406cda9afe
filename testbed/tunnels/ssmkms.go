package tunnels

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"
	"maps"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/smithy-go"
)

// The agent's side of a KMS-encrypted session, written from the SSM
// agent's source (agent/session/crypto/blockcipher.go and
// agent/session/datachannel), apart from the client's code in
// common/tunnel/ssm so that the two do not share one reading of it: the
// agent decrypts the client's data key with kms:Decrypt under the context
// {aws:ssm:SessionId, aws:ssm:TargetId}; it encrypts with the key's FIRST
// 32 bytes and decrypts with the last 32; a sealed payload is a 12-byte
// nonce followed by AES-GCM's ciphertext and tag.

// KMSDecrypter is the agent's KMS call: moto's KMS on the bed, FakeKMS in
// unit tests.
type KMSDecrypter interface {
	Decrypt(context.Context, *kms.DecryptInput, ...func(*kms.Options)) (*kms.DecryptOutput, error)
}

type agentCipher struct {
	enc, dec cipher.AEAD
}

func newAgentCipher(plain []byte) (*agentCipher, error) {
	if len(plain) != 64 {
		return nil, fmt.Errorf("the data key has %d bytes, the agent expects 64", len(plain))
	}
	mk := func(k []byte) cipher.AEAD {
		b, err := aes.NewCipher(k)
		if err != nil {
			panic(err)
		}
		g, err := cipher.NewGCM(b)
		if err != nil {
			panic(err)
		}
		return g
	}
	return &agentCipher{enc: mk(plain[:32]), dec: mk(plain[32:])}, nil
}

func (c *agentCipher) seal(p []byte) []byte {
	nonce := make([]byte, 12)
	_, _ = rand.Read(nonce)
	return append(nonce, c.enc.Seal(nil, nonce, p, nil)...)
}

func (c *agentCipher) open(p []byte) ([]byte, error) {
	if len(p) < 12 {
		return nil, errors.New("sealed payload shorter than its nonce")
	}
	return c.dec.Open(nil, p[:12], p[12:], nil)
}

// FakeKMS is KMS for unit tests: GenerateDataKey and Decrypt with the
// encryption context bound to the ciphertext, as KMS binds it.
type FakeKMS struct {
	mu sync.Mutex
	// Keys are the key ids that exist.
	Keys map[string]bool
	// Refuse answers GenerateDataKey with this error code (AccessDeniedException…).
	Refuse    string
	blobs     map[string]fakeBlob
	generated int
}

// Generated counts the GenerateDataKey calls that succeeded.
func (f *FakeKMS) Generated() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.generated
}

type fakeBlob struct {
	key   string
	ctx   map[string]string
	plain []byte
}

// GenerateDataKey is kms:GenerateDataKey.
func (f *FakeKMS) GenerateDataKey(_ context.Context, in *kms.GenerateDataKeyInput, _ ...func(*kms.Options)) (*kms.GenerateDataKeyOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.Refuse != "" {
		return nil, &smithy.GenericAPIError{Code: f.Refuse, Message: "refused by the test"}
	}
	id := aws.ToString(in.KeyId)
	if !f.Keys[id] {
		return nil, &smithy.GenericAPIError{Code: "NotFoundException", Message: "Key '" + id + "' does not exist"}
	}
	if in.NumberOfBytes == nil || in.KeySpec != "" {
		return nil, &smithy.GenericAPIError{Code: "ValidationException", Message: "the fake takes NumberOfBytes only"}
	}
	plain := make([]byte, *in.NumberOfBytes)
	_, _ = rand.Read(plain)
	blob := make([]byte, 32)
	_, _ = rand.Read(blob)
	if f.blobs == nil {
		f.blobs = map[string]fakeBlob{}
	}
	f.blobs[string(blob)] = fakeBlob{key: id, ctx: maps.Clone(in.EncryptionContext), plain: bytes.Clone(plain)}
	f.generated++
	return &kms.GenerateDataKeyOutput{KeyId: in.KeyId, Plaintext: plain, CiphertextBlob: blob}, nil
}

// Decrypt is kms:Decrypt: the blob opens only with the context it was made with.
func (f *FakeKMS) Decrypt(_ context.Context, in *kms.DecryptInput, _ ...func(*kms.Options)) (*kms.DecryptOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	b, ok := f.blobs[string(in.CiphertextBlob)]
	if !ok || !maps.Equal(b.ctx, in.EncryptionContext) {
		return nil, &smithy.GenericAPIError{Code: "InvalidCiphertextException", Message: "the ciphertext or its encryption context is wrong"}
	}
	return &kms.DecryptOutput{KeyId: aws.String(b.key), Plaintext: bytes.Clone(b.plain)}, nil
}
