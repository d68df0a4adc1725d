package admission

import (
	"crypto/sha256"
	"math/bits"
	"strconv"
)

// maxNonceLen bounds a nonce: a decimal of at most 20 digits (a uint64).
const maxNonceLen = 20

// Proven tells whether nonce proves work on challenge: SHA-256 over the
// bytes of challenge + ":" + nonce begins with want zero bits, the most
// significant bit of the first byte first.
func Proven(challenge, nonce string, want int) bool {
	sum := sha256.Sum256([]byte(challenge + ":" + nonce))
	return leadingZeros(sum[:]) >= want
}

func leadingZeros(b []byte) int {
	n := 0
	for _, c := range b {
		if c != 0 {
			return n + bits.LeadingZeros8(c)
		}
		n += 8
	}
	return n
}

// Solve finds the smallest nonce that proves want bits of work on
// challenge: 2^want hashes on average. Clients (the load tools, tests) use
// it; the service only checks.
func Solve(challenge string, want int) string {
	buf := make([]byte, 0, len(challenge)+1+maxNonceLen)
	buf = append(buf, challenge...)
	buf = append(buf, ':')
	prefix := len(buf)
	for n := uint64(0); ; n++ {
		buf = strconv.AppendUint(buf[:prefix], n, 10)
		sum := sha256.Sum256(buf)
		if leadingZeros(sum[:]) >= want {
			return strconv.FormatUint(n, 10)
		}
	}
}

// validNonce tells whether s is a decimal nonce: 1 to 20 digits.
func validNonce(s string) bool {
	if s == "" || len(s) > maxNonceLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
