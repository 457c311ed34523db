module sluice-bench/go-echo

go 1.19
