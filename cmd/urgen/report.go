package main

import "fmt"

func report(args []string) error { return fmt.Errorf("report: not yet") }
func diff(args []string) error   { return fmt.Errorf("diff: not yet") }
