module example.com/shapes-go

go 1.19
