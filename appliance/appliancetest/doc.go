// Package appliancetest makes the region's certificates for the tests of
// the packages that use them (replication, edge), with package appliance
// itself, in the spirit of net/http/httptest: a CA, central's replication
// certificate on loopback, and enrolled edge identities. Only tests import
// it.
package appliancetest
