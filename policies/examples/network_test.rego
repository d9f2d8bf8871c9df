package tenant.network_test

import data.tenant.network

reason := "administration is allowed from the office network only"

test_admin_from_the_default_office_network_is_not_denied if {
	count(network.deny) == 0 with input as {"action": "identity.user.create", "request": {"ip": "10.1.2.3"}}
}

test_admin_from_elsewhere_is_denied if {
	network.deny[reason] with input as {"action": "access.policy.write", "request": {"ip": "203.0.113.9"}}
}

test_admin_without_an_address_is_denied if {
	network.deny[reason] with input as {"action": "audit.log.read"}
}

test_tenant_settings_name_the_networks if {
	count(network.deny) == 0 with input as {
		"action": "identity.role.update",
		"request": {"ip": "192.168.7.20"},
		"tenant": {"settings": {"office_networks": ["192.168.7.0/24"]}},
	}
	network.deny[reason] with input as {
		"action": "identity.role.update",
		"request": {"ip": "10.1.2.3"},
		"tenant": {"settings": {"office_networks": ["192.168.7.0/24"]}},
	}
}

test_plugin_actions_are_not_concerned if {
	count(network.deny) == 0 with input as {"action": "projects.task.update", "request": {"ip": "203.0.113.9"}}
}
