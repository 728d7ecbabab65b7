set datafile missing '?'
set title "lenet + BN on MNIST: test accuracy vs test batch size"
set xlabel "test batch size"
set ylabel "test accuracy (%)"
set key bottom right
set grid
set logscale x
set style fill transparent solid 0.2 noborder
set terminal pngcairo size 640,420 font 'sans,9'
set output "train-eval-accuracy.png"
plot "train-eval-accuracy.dat" index 0 using 1:2 with linespoints lc 1 pt 7 ps 0.5 lw 2 title "eval", "train-eval-accuracy.dat" index 1 using 1:2 with linespoints lc 2 pt 7 ps 0.5 lw 2 title "train", "train-eval-accuracy.dat" index 2 using 1:2 with linespoints lc 3 pt 7 ps 0.5 lw 2 title "bn-batch-stats"
set terminal svg size 640,420 dynamic font 'sans,9'
set output "train-eval-accuracy.svg"
replot
set output
