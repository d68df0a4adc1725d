package httpapi

import (
	"net/netip"

	"github.com/gin-gonic/gin"
)

// clientKey names the client of a request for the per-IP buckets: its
// address (the TCP peer unless it is a trusted proxy) for IPv4, and the /64
// the address is in for IPv6, since one IPv6 client is handed a whole /64
// and could otherwise take a fresh bucket with each address of it.
func clientKey(c *gin.Context) string {
	ip := c.ClientIP()
	addr, err := netip.ParseAddr(ip)
	if err != nil {
		return ip
	}
	addr = addr.Unmap()
	if addr.Is4() {
		return addr.String()
	}
	p, err := addr.WithZone("").Prefix(64)
	if err != nil {
		return ip
	}
	return p.String()
}
