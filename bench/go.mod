module github.com/urgen/urgen/bench

go 1.26.0

replace github.com/urgen/urgen => ../
