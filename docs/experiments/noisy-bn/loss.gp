set datafile missing '?'
set title "vgg on CIFAR-10 at LR 0.05: training loss (mean of 10 steps)"
set xlabel "step"
set ylabel "training loss"
set key bottom right
set grid
set logscale y
set style fill transparent solid 0.2 noborder
set terminal pngcairo size 640,420 font 'sans,9'
set output "loss.png"
plot "loss.dat" index 0 using 1:2 with linespoints lc 1 pt 7 ps 0.5 lw 2 title "A: no norm", "loss.dat" index 1 using 1:2 with linespoints lc 2 pt 7 ps 0.5 lw 2 title "B: BN", "loss.dat" index 2 using 1:2 with linespoints lc 3 pt 7 ps 0.5 lw 2 title "C: BN + noise (0.5, 1.5)", "loss.dat" index 3 using 1:2 with linespoints lc 4 pt 7 ps 0.5 lw 2 title "C: BN + noise (1, 2)", "loss.dat" index 4 using 1:2 with linespoints lc 5 pt 7 ps 0.5 lw 2 title "D: no norm + noise (0.5, 1.5)", "loss.dat" index 5 using 1:2 with linespoints lc 6 pt 7 ps 0.5 lw 2 title "D: no norm + noise (1, 2)"
set terminal svg size 640,420 dynamic font 'sans,9'
set output "loss.svg"
replot
set output
