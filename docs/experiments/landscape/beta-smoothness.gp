set datafile missing '?'
set title "vgg on CIFAR-10: effective beta-smoothness"
set xlabel "step"
set ylabel "max ||g_eta - g|| / ||eta g||"
set key bottom right
set grid
set logscale y
set style fill transparent solid 0.2 noborder
set terminal pngcairo size 640,420 font 'sans,9'
set output "beta-smoothness.png"
plot "beta-smoothness.dat" index 0 using 1:2 with linespoints lc 1 pt 7 ps 0.5 lw 2 title "A: no norm", "beta-smoothness.dat" index 1 using 1:2 with linespoints lc 2 pt 7 ps 0.5 lw 2 title "B: BN"
set terminal svg size 640,420 dynamic font 'sans,9'
set output "beta-smoothness.svg"
replot
set output
