package domain

import (
	"errors"
	"time"
)

const dateLayout = "2006-01-02"

// Date is a calendar date without a time of day or a zone, such as a due
// date: "2025-01-31" means that day wherever the reader is.
type Date struct {
	t time.Time // midnight UTC
}

// ParseDate reads a date written 2025-01-31.
func ParseDate(s string) (Date, error) {
	t, err := time.Parse(dateLayout, s)
	if err != nil {
		return Date{}, errors.New("must be a date, for example 2025-01-31")
	}
	return Date{t: t}, nil
}

// DateOf is the date of t in UTC: what a DATE column holds.
func DateOf(t time.Time) Date {
	y, m, d := t.UTC().Date()
	return Date{t: time.Date(y, m, d, 0, 0, 0, 0, time.UTC)}
}

func (d Date) String() string { return d.t.Format(dateLayout) }

// Equal reports whether two dates are the same day.
func (d Date) Equal(o Date) bool { return d.t.Equal(o.t) }
