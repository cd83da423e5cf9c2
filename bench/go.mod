module github.com/urgen/urgen/bench

go 1.26.0

replace github.com/urgen/urgen => ../

require (
	github.com/pawelgaczynski/giouring v0.0.0-20230826085535-69588b89acb9
	github.com/urgen/urgen v0.0.0-00010101000000-000000000000
)

require golang.org/x/sys v0.50.0
