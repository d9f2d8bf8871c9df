# Administration (users, roles, policies, audit) only from the office
# network. The networks come from the tenant's settings (office_networks),
# with a default; net.cidr_* functions compute on addresses and never touch
# the network.
package tenant.network

default office_networks := ["10.0.0.0/8"]

office_networks := input.tenant.settings.office_networks

admin_contexts := {"identity", "access", "audit"}

deny contains "administration is allowed from the office network only" if {
	split(input.action, ".")[0] in admin_contexts
	not from_office
}

from_office if {
	some cidr in office_networks
	net.cidr_contains(cidr, input.request.ip)
}
