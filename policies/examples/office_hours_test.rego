package tenant.office_hours_test

import data.tenant.office_hours

reason := "deletions are allowed on weekdays from 08:00 to 19:00 UTC only"

test_delete_on_a_weekday_morning_is_not_denied if {
	count(office_hours.deny) == 0 with input as {"action": "projects.task.delete", "request": {"time": "2026-03-04T09:30:00Z"}}
}

test_delete_at_night_is_denied if {
	office_hours.deny[reason] with input as {"action": "projects.task.delete", "request": {"time": "2026-03-04T22:00:00Z"}}
}

test_delete_on_a_sunday_is_denied if {
	office_hours.deny[reason] with input as {"action": "projects.task.delete", "request": {"time": "2026-03-08T10:00:00Z"}}
}

test_delete_without_a_time_is_denied if {
	office_hours.deny[reason] with input as {"action": "projects.task.delete"}
}

test_reads_are_never_denied if {
	count(office_hours.deny) == 0 with input as {"action": "projects.task.read", "request": {"time": "2026-03-08T23:00:00Z"}}
}
