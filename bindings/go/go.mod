module shmap

go 1.19
