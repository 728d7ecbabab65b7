set datafile missing '?'
set title "MLP 784-512x5-10 on MNIST: test error per epoch (mean over seeds)"
set xlabel "epoch"
set ylabel "test error (%)"
set key bottom right
set grid
set style fill transparent solid 0.2 noborder
set terminal pngcairo size 640,420 font 'sans,9'
set output "ghost-bn-test-error.png"
plot "ghost-bn-test-error.dat" index 0 using 1:2 with linespoints lc 1 pt 7 ps 0.5 lw 2 title "batch 128", "ghost-bn-test-error.dat" index 1 using 1:2 with linespoints lc 2 pt 7 ps 0.5 lw 2 title "batch 4096", "ghost-bn-test-error.dat" index 2 using 1:2 with linespoints lc 3 pt 7 ps 0.5 lw 2 title "batch 4096, ghost batches of 128"
set terminal svg size 640,420 dynamic font 'sans,9'
set output "ghost-bn-test-error.svg"
replot
set output
