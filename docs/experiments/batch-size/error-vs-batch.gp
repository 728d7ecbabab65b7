set datafile missing '?'
set title "lenet on MNIST: test error vs batch size (LR = 0.05 x B / 128)"
set xlabel "batch size"
set ylabel "test error"
set key bottom right
set grid
set logscale x
set style fill transparent solid 0.2 noborder
set terminal pngcairo size 640,420 font 'sans,9'
set output "error-vs-batch.png"
plot "error-vs-batch.dat" index 0 using 1:2 with linespoints lc 1 pt 7 ps 0.5 lw 2 title "BatchNorm", "error-vs-batch.dat" index 1 using 1:2 with linespoints lc 2 pt 7 ps 0.5 lw 2 title "GroupNorm", "error-vs-batch.dat" index 2 using 1:2 with linespoints lc 3 pt 7 ps 0.5 lw 2 title "LayerNorm", "error-vs-batch.dat" index 3 using 1:2 with linespoints lc 4 pt 7 ps 0.5 lw 2 title "no norm"
set terminal svg size 640,420 dynamic font 'sans,9'
set output "error-vs-batch.svg"
replot
set output
